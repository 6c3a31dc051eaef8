// team-env-js: a web environment per team, and its teardown, in JavaScript.
//
// The JavaScript twin of the Rust `team-env` plugin. `team-env-js` starts a container from a
// web image with TEAM=<team> in its environment, publishes its port on a free host port,
// waits until the port accepts connections and returns the URL. `team-env-js-teardown`
// removes every container the plugin started for a team, found by the plugin's own label.
//
// How WIT maps to JavaScript here (componentize-js 0.23):
// - imports are ES modules named by the versioned interface, `dockwright:plugin/docker@0.1.6`;
//   functions and record fields are camelCase (`createContainer`, `hostPort`);
// - an import's `result<T, docker-error>` returns T, or throws an Error whose `payload` is the
//   docker-error, a variant: `{ tag: 'not-found', val: 'message' }`;
// - enums are strings (`'tcp'`), options are the value or `undefined`, u64/s64 are BigInts;
// - the export `workflows` is an object with `describe` and `run`; `run` returns the outputs,
//   or throws to fail the run (see `fail`).

import {
  createContainer,
  startContainer,
  inspectContainer,
  listContainers,
  removeContainer,
  waitReady,
  containerLogs,
} from 'dockwright:plugin/docker@0.1.6';
import { log, declarePermissions, publicHost, currentRun } from 'dockwright:plugin/host@0.1.6';

const NAME = 'team-env-js';
const VERSION = '0.1.0';
const DEFAULT_IMAGE = 'dockwright/web:latest';
const DEFAULT_PORT = '80/tcp';
// The plugin's own label; `dockwright.*` labels belong to the host.
const TEAM_LABEL = 'team-env-js.team';
const READY_TIMEOUT_MS = 30_000;

const info = (message) => log('info', message);
const warn = (message) => log('warn', message);
const kv = (key, value) => ({ key, value: String(value) });

/** The error a workflow fails with: the host shows its message and rolls the run back. */
class WorkflowError extends Error {
  constructor(message) {
    super(message);
    // componentize-js lowers a thrown value's `payload` as the `err` of the export's result.
    this.payload = message;
  }
}
const fail = (message) => {
  throw new WorkflowError(message);
};

const KINDS = {
  'not-found': 'not found',
  conflict: 'conflict',
  denied: 'denied by policy',
  invalid: 'invalid request',
  'engine-unavailable': 'Docker engine unavailable',
  'engine-error': 'Docker engine error',
};

/** The docker-error a Docker call threw, or undefined for anything else (a bug). */
export function dockerError(e) {
  const p = e && e.payload;
  return p && typeof p.tag === 'string' && p.tag in KINDS ? p : undefined;
}

/** A thrown Docker error as one line: its kind, then the host's message. */
export function describeError(e) {
  const error = dockerError(e);
  if (!error) throw e; // not a Docker error: let it surface as a trap with its stack
  const message = String(error.val ?? '').trim();
  return message ? `${KINDS[error.tag]}: ${message}` : KINDS[error.tag];
}

/** Call `f`; on a Docker error, fail the workflow with `what` and the error. */
function attempt(what, f) {
  try {
    return f();
  } catch (e) {
    fail(`${what}: ${describeError(e)}`);
  }
}

const param = (name, description, fallback) => ({
  name,
  description,
  required: fallback === undefined,
  default: fallback,
});
// Optional with no default: left out, it is the run's own team (see `parseTeam`).
const teamParam = () => ({
  name: 'team',
  description: "The team the environment is for, such as `red`; by default the run's team",
  required: false,
  default: undefined,
});

export const workflows = {
  describe() {
    // componentize-js imports all of `docker`: say which groups this plugin uses, so its
    // permission manifest is what it does and not everything the contract offers.
    declarePermissions(['containers', 'observe']);
    return {
      name: NAME,
      version: VERSION,
      description:
        'Starts a web environment for a team on a free port, and tears it down (written in JavaScript)',
      workflows: [
        {
          name: 'team-env-js',
          description:
            'Starts a container for the team, publishes its port on a free host port and waits ' +
            'until it accepts connections; returns its URL',
          params: [
            teamParam(),
            param('image', 'The image to run', DEFAULT_IMAGE),
            param('port', 'The container port the image serves on, such as 80/tcp', DEFAULT_PORT),
          ],
        },
        {
          name: 'team-env-js-teardown',
          description: 'Removes every container that team-env-js started for the team, running or not',
          params: [teamParam()],
        },
      ],
    };
  },

  run(workflow, params) {
    const values = Object.fromEntries(params.map(({ key, value }) => [key, value]));
    try {
      switch (workflow) {
        case 'team-env-js':
          return start(values);
        case 'team-env-js-teardown':
          return teardown(values);
        default: {
          const offered = workflows.describe().workflows.map((w) => w.name).join(', ');
          fail(`unknown workflow \`${workflow}\`: the ${NAME} plugin offers ${offered}`);
        }
      }
    } catch (e) {
      // The export's error must be a string (or carry one as `payload`): anything else traps.
      if (e instanceof WorkflowError || typeof e === 'string') throw e;
      // A Docker error nobody caught: still a failure with a message, not a crash.
      if (dockerError(e)) fail(`${workflow}: ${describeError(e)}`);
      // A bug: show its stack (a trap alone would only say "expected a string"), then crash.
      console.error(`${NAME}: unexpected ${e?.stack ? `${e}\n${e.stack}` : String(e)}`);
      throw e;
    }
  },
};

/**
 * The team the environment is for: the `team` param, else the run's own team as the host
 * knows it (`currentRun`, contract 0.1.5), so a caller over HTTP names no team its token does
 * not already say. Checked: it goes into an environment variable and a label.
 */
export function parseTeam(values) {
  const team = (values.team ?? '').trim() || (currentRun()?.team ?? '');
  if (!team) fail('no `team` param, and no run to take the team from');
  if (team.length > 63 || !/^[A-Za-z0-9_.-]+$/.test(team)) {
    fail(
      `team \`${team}\` is not a valid team name: use at most 63 letters, digits, \`-\`, \`_\` or \`.\``,
    );
  }
  return team;
}

/** `80/tcp` (or `80`) as a WIT port record. */
export function parsePort(text) {
  text = text.trim();
  const [number, protocol = 'tcp'] = text.split('/', 2);
  const proto = protocol.toLowerCase();
  if (!['tcp', 'udp', 'sctp'].includes(proto)) {
    fail(`port \`${text}\` has an unknown protocol \`${protocol}\`: use tcp, udp or sctp, as in 80/tcp`);
  }
  const port = /^[0-9]+$/.test(number) ? Number(number) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    fail(`port \`${text}\` is not a port: give a number from 1 to 65535, as in 80/tcp`);
  }
  return { port, protocol: proto };
}

const short = (id) => id.slice(0, 12);

function start(values) {
  const team = parseTeam(values);
  const image = (values.image ?? DEFAULT_IMAGE).trim();
  const port = parsePort(values.port ?? DEFAULT_PORT);
  const portText = `${port.port}/${port.protocol}`;

  info(`creating a container from ${image} for team ${team}`);
  let id;
  try {
    id = createContainer({
      image,
      // No fixed name: the engine picks one, so several environments of a team can coexist.
      name: undefined,
      env: [kv('TEAM', team)],
      cmd: undefined,
      entrypoint: undefined,
      workingDir: undefined,
      exposedPorts: [port],
      publishAll: false,
      portBindings: [{ containerPort: port, hostPort: undefined, hostIp: undefined }],
      labels: [kv(TEAM_LABEL, team)],
      memoryBytes: undefined,
      cpus: undefined,
      pidsLimit: undefined,
      restart: undefined,
    });
  } catch (e) {
    if (dockerError(e)?.tag === 'not-found') {
      fail(
        `image \`${image}\` is not on the engine (${describeError(e)}): build or pull it first, ` +
          'or give another image with the `image` param',
      );
    }
    fail(`creating the container from \`${image}\`: ${describeError(e)}`);
  }
  attempt(`starting container ${short(id)}`, () => startContainer(id));

  info(
    `started container ${short(id)}, waiting up to ${READY_TIMEOUT_MS / 1000} s for port ` +
      `${portText} to accept connections`,
  );
  try {
    waitReady(id, { tag: 'tcp-port', val: port }, READY_TIMEOUT_MS);
  } catch (e) {
    fail(
      `the container did not get ready on port ${portText}: ${describeError(e)}. Check that ` +
        `the image serves on that port (the \`port\` param).${lastOutput(id)}`,
    );
  }

  const container = attempt(`inspecting container ${short(id)}`, () => inspectContainer(id));
  const published = container.ports.find(
    (p) => p.containerPort === port.port && p.protocol === port.protocol,
  );
  if (!published) {
    fail(`container ${short(id)} is running, but the engine reports no host port for ${portText}`);
  }
  const name = container.name.replace(/^\//, '');
  const url = `http://${publicHost()}:${published.hostPort}/`;
  info(`team ${team}: ${name} is ready at ${url}`);
  return [kv('container', container.id), kv('name', name), kv('host-port', published.hostPort), kv('url', url)];
}

function teardown(values) {
  const team = parseTeam(values);
  const containers = attempt(`listing the containers of team ${team}`, () =>
    listContainers({ all: true, labels: [{ key: TEAM_LABEL, value: team }] }),
  );
  if (containers.length === 0) info(`team ${team} has no ${NAME} containers`);

  const removed = [];
  for (const container of containers) {
    const name = container.name.replace(/^\//, '');
    try {
      removeContainer(container.id, true);
      info(`removed ${name} (${short(container.id)})`);
      removed.push(name);
    } catch (e) {
      // Gone already, removed by someone else meanwhile: nothing left to do.
      if (dockerError(e)?.tag === 'not-found') {
        warn(`${name} was already gone`);
        continue;
      }
      const done = removed.length ? ` (removed before it: ${removed.join(', ')})` : '';
      fail(`could not remove container ${name} of team ${team}: ${describeError(e)}${done}`);
    }
  }
  return [kv('removed', removed.length), kv('containers', removed.join(','))];
}

/** The container's last lines of output, to explain a failure; empty when there are none. */
function lastOutput(id) {
  try {
    const lines = containerLogs(id, { stdout: true, stderr: true, tail: 10 });
    if (lines.length === 0) return '';
    return ` Its last output:\n${lines.map((l) => l.text.trimEnd()).join('\n')}`;
  } catch {
    return '';
  }
}

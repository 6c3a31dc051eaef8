// Unit tests of team-env-js on Node, with the host's imports faked (see register.mjs):
//   npm test
// No Docker engine, no wasm. The end-to-end tests through the host are in
// host/tests/integration/polyglot.rs.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { workflows, parsePort, parseTeam } from '../src/index.js';
import { fake, calls, dockerError } from './fake-docker.mjs';
import { lines, declared, context } from './fake-host.mjs';

const ID = 'f'.repeat(64);
const run = (workflow, params) =>
  Object.fromEntries(
    workflows.run(workflow, Object.entries(params).map(([key, value]) => ({ key, value }))).map((o) => [o.key, o.value]),
  );
/** The message a workflow failed with (what the host shows). */
const failure = (workflow, params) => {
  try {
    run(workflow, params);
  } catch (e) {
    assert.equal(typeof e.payload, 'string', `not a workflow failure: ${e.stack}`);
    return e.payload;
  }
  assert.fail('the workflow did not fail');
};

beforeEach(() => {
  for (const key of Object.keys(fake)) delete fake[key];
  calls.length = 0;
  lines.length = 0;
});

test('describe offers both workflows with their params', () => {
  const info = workflows.describe();
  assert.equal(info.name, 'team-env-js');
  assert.deepEqual(info.workflows.map((w) => w.name), ['team-env-js', 'team-env-js-teardown']);
  const params = info.workflows[0].params;
  assert.deepEqual(params.map((p) => [p.name, p.required, p.default]), [
    ['team', false, undefined],
    ['image', false, 'dockwright/web:latest'],
    ['port', false, '80/tcp'],
  ]);
});

test('describe declares the permission groups the plugin uses', () => {
  declared.length = 0;
  workflows.describe();
  assert.deepEqual(declared, ['containers', 'observe']);
});

test('team-env-js creates, starts, waits for the port and returns the URL', () => {
  fake.createContainer = () => ID;
  fake.startContainer = () => {};
  fake.waitReady = () => {};
  fake.inspectContainer = () => ({
    id: ID,
    name: '/eloquent_hoover',
    ports: [{ containerPort: 80, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 32768 }],
  });
  const out = run('team-env-js', { team: 'blue', image: 'dockwright/web:latest', port: '80/tcp' });
  assert.deepEqual(out, {
    container: ID,
    name: 'eloquent_hoover',
    'host-port': '32768',
    url: 'http://localhost:32768/',
  });
  const spec = calls[0][1];
  assert.deepEqual(spec.env, [{ key: 'TEAM', value: 'blue' }]);
  assert.deepEqual(spec.labels, [{ key: 'team-env-js.team', value: 'blue' }]);
  assert.deepEqual(spec.portBindings, [
    { containerPort: { port: 80, protocol: 'tcp' }, hostPort: undefined, hostIp: undefined },
  ]);
  const wait = calls.find(([name]) => name === 'waitReady');
  assert.deepEqual(wait.slice(2), [{ tag: 'tcp-port', val: { port: 80, protocol: 'tcp' } }, 30000]);
});

test('a missing image says to build or pull it', () => {
  fake.createContainer = () => {
    throw dockerError('not-found', 'No such image: nope:1');
  };
  const message = failure('team-env-js', { team: 'blue', image: 'nope:1', port: '80' });
  assert.match(message, /^image `nope:1` is not on the engine \(not found: No such image: nope:1\): build or pull it first/);
});

test('a container that never gets ready shows its last output', () => {
  fake.createContainer = () => ID;
  fake.startContainer = () => {};
  fake.waitReady = () => {
    throw dockerError('conflict', 'exited (exit code 1)');
  };
  fake.containerLogs = () => [{ stream: 'stderr', text: 'httpd: bind: Address in use\n' }];
  const message = failure('team-env-js', { team: 'blue', port: '8080/tcp' });
  assert.match(message, /did not get ready on port 8080\/tcp: conflict: exited \(exit code 1\)/);
  assert.match(message, /Its last output:\nhttpd: bind: Address in use$/);
});

test('teardown removes the team containers and tolerates ones already gone', () => {
  fake.listContainers = (options) => {
    assert.deepEqual(options, { all: true, labels: [{ key: 'team-env-js.team', value: 'blue' }] });
    return [
      { id: 'a'.repeat(64), name: '/one' },
      { id: 'b'.repeat(64), name: '/two' },
    ];
  };
  fake.removeContainer = (id, force) => {
    assert.equal(force, true);
    if (id.startsWith('b')) throw dockerError('not-found', 'gone');
  };
  assert.deepEqual(run('team-env-js-teardown', { team: 'blue' }), { removed: '1', containers: 'one' });
  assert.ok(lines.includes('warn: two was already gone'), lines.join('\n'));
});

test('teardown that cannot remove says what it removed before', () => {
  fake.listContainers = () => [
    { id: 'a'.repeat(64), name: '/one' },
    { id: 'b'.repeat(64), name: '/two' },
  ];
  fake.removeContainer = (id) => {
    if (id.startsWith('b')) throw dockerError('denied', 'not yours');
  };
  assert.equal(
    failure('team-env-js-teardown', { team: 'blue' }),
    'could not remove container two of team blue: denied by policy: not yours (removed before it: one)',
  );
});

test('params are checked before any Docker call', () => {
  assert.match(failure('team-env-js', { team: 'bad team' }), /not a valid team name/);
  assert.match(failure('team-env-js', { team: 'blue', port: '80/xyz' }), /unknown protocol `xyz`/);
  assert.match(failure('team-env-js', { team: 'blue', port: '0' }), /is not a port/);
  assert.match(failure('nope', {}), /unknown workflow `nope`: the team-env-js plugin offers team-env-js, team-env-js-teardown/);
  assert.deepEqual(calls, []);
  assert.deepEqual(parsePort('53/UDP'), { port: 53, protocol: 'udp' });
  assert.equal(parseTeam({ team: ' red ' }), 'red');
});

test("without a team param, the run's own team is the one", () => {
  assert.equal(parseTeam({}), 'green');
  assert.equal(parseTeam({ team: '' }), 'green');
  assert.equal(parseTeam({ team: 'blue' }), 'blue');
  const saved = context.run;
  context.run = undefined;
  try {
    assert.match(failure('team-env-js', {}), /no `team` param, and no run to take the team from/);
  } finally {
    context.run = saved;
  }
});

test('a Docker error says what the plugin was doing', () => {
  fake.createContainer = () => ID;
  fake.startContainer = () => {};
  fake.waitReady = () => {};
  fake.inspectContainer = () => {
    throw dockerError('engine-unavailable', 'no socket');
  };
  assert.equal(
    failure('team-env-js', { team: 'blue' }),
    `inspecting container ${ID.slice(0, 12)}: Docker engine unavailable: no socket`,
  );
});

test('a bug is not disguised as a workflow failure', () => {
  fake.createContainer = () => ID;
  fake.startContainer = () => {};
  fake.waitReady = () => {};
  fake.inspectContainer = () => ({ id: ID, name: '/x' }); // no `ports`: a TypeError in the plugin
  assert.throws(() => run('team-env-js', { team: 'blue' }), TypeError);
});

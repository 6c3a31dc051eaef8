// The `host` import, faked: log lines are kept for the tests to read.
export const lines = [];
export function log(level, message) {
  lines.push(`${level}: ${message}`);
}

// What the plugin declared in `describe`, for the tests to read.
export const declared = [];
export function declarePermissions(groups) {
  declared.push(...groups);
}

// Where users reach the engine's published ports, as the host's config would say.
export function publicHost() {
  return 'localhost';
}

// The run's context as the host gives it (`undefined` outside a run); tests change it.
export const context = { run: { team: 'green', runId: 'r1', engine: 'default', caller: undefined } };
export function currentRun() {
  return context.run;
}

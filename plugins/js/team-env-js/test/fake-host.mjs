// The `host` import, faked: log lines are kept for the tests to read.
export const lines = [];
export function log(level, message) {
  lines.push(`${level}: ${message}`);
}

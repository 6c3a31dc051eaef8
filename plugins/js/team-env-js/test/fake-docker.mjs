// The `docker` import, faked: every function calls the test's handler of the same name, kept in
// `fake`, and fails like the host does for a call the test did not expect.
export const fake = {};
export const calls = [];

/** The error a failing import throws, as componentize-js makes it. */
export function dockerError(tag, val) {
  const e = new Error(`${tag}: ${val}`);
  e.payload = { tag, val };
  return e;
}

const call =
  (name) =>
  (...args) => {
    calls.push([name, ...args]);
    if (!fake[name]) throw dockerError('engine-error', `unexpected call ${name}`);
    return fake[name](...args);
  };

export const createContainer = call('createContainer');
export const startContainer = call('startContainer');
export const stopContainer = call('stopContainer');
export const killContainer = call('killContainer');
export const removeContainer = call('removeContainer');
export const waitContainer = call('waitContainer');
export const inspectContainer = call('inspectContainer');
export const listContainers = call('listContainers');
export const containerLogs = call('containerLogs');
export const exec = call('exec');
export const top = call('top');
export const stats = call('stats');
export const waitReady = call('waitReady');
export const listImages = call('listImages');
export const pullImage = call('pullImage');
export const buildImage = call('buildImage');
export const commitContainer = call('commitContainer');
export const engineInfo = call('engineInfo');

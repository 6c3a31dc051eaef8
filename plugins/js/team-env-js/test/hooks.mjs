// Module resolution hook: `dockwright:plugin/docker@0.1.6` -> ./fake-docker.mjs, and so on.
const WIT = /^dockwright:plugin\/([a-z-]+)@0\.1\.\d+$/;

export async function resolve(specifier, context, nextResolve) {
  const match = WIT.exec(specifier);
  if (match) {
    return { url: new URL(`./fake-${match[1]}.mjs`, import.meta.url).href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

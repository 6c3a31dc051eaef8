// Build team-env-js into a component: `npm run build` (or `node build.mjs [OUT.wasm]`).
//
// Calls componentize-js's API rather than the `jco componentize` CLI (the CLI fails on this
// machine with "failed to get path metadata"; the API does the same work).
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? resolve(here, 'team_env_js.wasm'));

const { component } = await componentize({
  sourcePath: resolve(here, 'src/index.js'),
  witPath: resolve(here, '../../../wit'),
  worldName: 'plugin',
  // The host grants stdio, clocks and random; it has no wasi:http, so leave fetch out.
  disableFeatures: ['http', 'fetch-event'],
});
await mkdir(dirname(out), { recursive: true });
await writeFile(out, component);
console.log(`wrote ${out} (${(component.length / 1e6).toFixed(1)} MB)`);

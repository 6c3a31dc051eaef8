// `node --import ./test/register.mjs`: lets Node load src/index.js outside a component by
// resolving its WIT imports (`dockwright:plugin/<interface>@0.1.x`) to the fakes in this folder.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);

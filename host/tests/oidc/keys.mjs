// Writes a private JWKS for provider.mjs: one new RSA 2048 key first (oidc-provider
// signs with the first matching key), then the keys of --keep (still published in
// /jwks, so tokens signed before a rotation keep verifying).
//   node keys.mjs --kid NAME --out FILE [--keep FILE]
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// Node's own crypto, so the fixture needs no dependency beyond oidc-provider.
export function newKey(kid) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

// Run as a CLI only when executed directly (provider.mjs imports newKey).
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { kid: { type: 'string' }, out: { type: 'string' }, keep: { type: 'string' } } });
  if (!values.kid || !values.out) {
    console.error('usage: node keys.mjs --kid NAME --out FILE [--keep FILE]');
    process.exit(1);
  }
  const kept = values.keep ? JSON.parse(readFileSync(values.keep, 'utf8')).keys : [];
  writeFileSync(values.out, `${JSON.stringify({ keys: [newKey(values.kid), ...kept] }, null, 2)}\n`, { mode: 0o600 });
}

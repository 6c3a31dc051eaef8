// Gets an ID token from provider.mjs through the real authorization-code + PKCE flow,
// filling the provider's own dev login and consent forms like a browser would.
//   node login.mjs --issuer URL --client ID --redirect URI --user NAME
// Prints only the id_token on stdout; any failure: message on stderr, exit code 1.
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

const fail = (msg) => { console.error(`login.mjs: ${msg}`); process.exit(1); };
// The provider's HTML pages (errors included) reduced to their readable text, for messages.
const text = (html) => html.replace(/<style[\s\S]*?<\/style>/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 400);

const { values: a } = parseArgs({
  options: { issuer: { type: 'string' }, client: { type: 'string' }, redirect: { type: 'string' }, user: { type: 'string' } },
});
if (!a.issuer || !a.client || !a.redirect || !a.user) {
  fail('usage: node login.mjs --issuer URL --client ID --redirect URI --user NAME');
}

// Minimal path-aware cookie jar: the provider scopes its interaction cookies to
// /interaction/<uid> and /auth/<uid>, so sending the right ones matters.
const jar = new Map(); // "name;path" -> { name, value, path }
function store(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';').map((s) => s.trim());
    const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
    const attr = (k) => attrs.find((x) => x.toLowerCase().startsWith(`${k}=`))?.split('=')[1];
    const path = attr('path') ?? '/';
    const expires = attr('expires');
    if (!value || attr('max-age') === '0' || (expires && Date.parse(expires) < Date.now())) {
      jar.delete(`${name};${path}`);
    } else {
      jar.set(`${name};${path}`, { name, value, path });
    }
  }
}
const cookieFor = (url) => [...jar.values()]
  .filter((c) => new URL(url).pathname.startsWith(c.path))
  .map((c) => `${c.name}=${c.value}`).join('; ');

// Never follow redirects automatically: we must stop at the redirect URI (nothing listens there).
async function request(url, body) {
  const res = await fetch(url, {
    method: body ? 'POST' : 'GET',
    redirect: 'manual',
    headers: { cookie: cookieFor(url), ...(body && { 'content-type': 'application/x-www-form-urlencoded' }) },
    body: body && new URLSearchParams(body),
  }).catch((e) => fail(`${url}: ${e.cause?.message ?? e.message}`));
  store(res);
  return res;
}

const b64url = (buf) => buf.toString('base64url');
const verifier = b64url(randomBytes(32));
const state = b64url(randomBytes(16));
const nonce = b64url(randomBytes(16));

const discoveryRes = await request(new URL('.well-known/openid-configuration', `${a.issuer.replace(/\/?$/, '/')}`).href);
if (!discoveryRes.ok) fail(`discovery: HTTP ${discoveryRes.status}`);
const meta = await discoveryRes.json();

const auth = new URL(meta.authorization_endpoint);
auth.search = new URLSearchParams({
  response_type: 'code', client_id: a.client, redirect_uri: a.redirect, scope: 'openid email profile groups',
  state, nonce, code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
});

// Walk redirects and the HTML forms (login, then consent) until we land on the redirect URI.
const target = new URL(a.redirect);
let res = await request(auth.href);
let url = auth.href;
let code;
for (let step = 0; step < 20 && !code; step += 1) {
  if (res.status >= 300 && res.status < 400) {
    const next = new URL(res.headers.get('location'), url);
    if (next.origin === target.origin && next.pathname === target.pathname) {
      const p = next.searchParams;
      if (p.get('error')) fail(`provider error: ${p.get('error')}: ${p.get('error_description') ?? ''}`);
      if (p.get('state') !== state) fail('state mismatch in the redirect');
      code = p.get('code') ?? fail(`no code in the redirect: ${next.href}`);
      break;
    }
    url = next.href;
    res = await request(url);
  } else if (res.status === 200 && (res.headers.get('content-type') ?? '').includes('text/html')) {
    // The dev interaction pages post a hidden field "prompt" = login | consent to the form action.
    const html = await res.text();
    const prompt = html.match(/name="prompt" value="(\w+)"/)?.[1];
    const action = html.match(/<form[^>]*action="([^"]+)"/)?.[1]?.replace(/&amp;/g, '&');
    if (!prompt || !action) fail(`unexpected page at ${url}: ${text(html)}`);
    const fields = prompt === 'login' ? { prompt, login: a.user, password: 'any' } : { prompt };
    url = new URL(action, url).href;
    res = await request(url, fields);
  } else {
    fail(`HTTP ${res.status} at ${new URL(url).pathname}: ${text(await res.text())}`);
  }
}
if (!code) fail('gave up: too many steps without reaching the redirect URI');

const tokenRes = await request(meta.token_endpoint, {
  grant_type: 'authorization_code', code, redirect_uri: a.redirect, client_id: a.client, code_verifier: verifier,
});
const tokens = await tokenRes.json().catch(() => ({}));
if (!tokenRes.ok || !tokens.id_token) fail(`token endpoint: HTTP ${tokenRes.status} ${JSON.stringify(tokens)}`);

// Cheap sanity check that this token answers our request (signature checks are the test's job).
const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url'));
if (claims.nonce !== nonce) fail('nonce mismatch in the id_token');

console.log(tokens.id_token);

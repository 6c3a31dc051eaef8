"use strict";
// The dockwright team page. Everything the API returns may come from a hostile
// plugin, so it only ever reaches the DOM as text (createElement + textContent),
// and links are made only from URLs that parse as plain web addresses.

const TOKEN_KEY = "dockwright.token";
// The team a person acts for, when their groups give them several.
const TEAM_KEY = "dockwright.team";
// A sign-in under way: its PKCE verifier, state and nonce, until the provider sends the person back.
const SIGNIN_KEY = "dockwright.signin";
const $ = (id) => document.getElementById(id);

let token = null;
let team = null;
// The identity provider's sign-in as /auth/config describes it; null without one.
let signin = null;
// The run shown in #run: its id, the last log line number seen, and the
// controller that aborts its event stream when another run replaces it.
let current = null;
// Refreshes may overlap (a run ends while the user clicks Refresh): only the
// newest answer for each list is drawn.
const latest = { containers: 0, runs: 0, usage: 0 };

// ---------------------------------------------------------------- DOM helpers

function el(tag, opts = {}, ...children) {
  const node = document.createElement(tag);
  if (opts.cls) node.className = opts.cls;
  if (opts.text != null) node.textContent = String(opts.text);
  for (const [k, v] of Object.entries(opts.data || {})) node.dataset[k] = v == null ? "" : String(v);
  for (const [k, v] of Object.entries(opts.attrs || {})) node.setAttribute(k, String(v));
  // append() turns strings into text nodes, never markup.
  for (const child of children) if (child != null) node.append(child);
  return node;
}

const setText = (node, value) => { node.textContent = value == null ? "" : String(value); };
const show = (node, visible) => { node.hidden = !visible; };
const runPath = (id, rest = "") => `/v1/runs/${encodeURIComponent(id)}${rest}`;

/** The URL if `value` is an absolute http(s) address, else null. */
function webUrl(value) {
  let url;
  try { url = new URL(String(value)); } catch { return null; }
  return url.protocol === "http:" || url.protocol === "https:" ? url : null;
}

/** A link when `value` is a web address, plain text otherwise. */
function linkOrText(value, label) {
  const url = webUrl(value);
  const text = String(label ?? value ?? "");
  if (!url) return el("span", { text });
  return el("a", { text, attrs: { href: url.href, target: "_blank", rel: "noopener noreferrer" } });
}

function cell(content, cls) {
  const td = el("td", { cls });
  if (content instanceof Node) td.append(content);
  else setText(td, content);
  return td;
}

/** Status and stream names become class names; keep them to a harmless alphabet. */
const safeClass = (value) => String(value ?? "unknown").replace(/[^a-z0-9_-]/gi, "") || "unknown";

const badge = (status) => el("span", { cls: `badge status-${safeClass(status)}`, text: status });
const emptyRow = (span, text) => el("tr", { cls: "empty" }, el("td", { text, attrs: { colspan: span } }));

// ---------------------------------------------------------------- formatting

/** Today's times as HH:MM:SS, older ones with their date; numbers are unix seconds. */
function fmtTime(value) {
  if (value == null || value === "") return "";
  const date = new Date(typeof value === "number" ? value * 1000 : value);
  if (Number.isNaN(date.getTime())) return String(value);
  const pad = (n) => String(n).padStart(2, "0");
  const clock = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  if (new Date().toDateString() === date.toDateString()) return clock;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${clock}`;
}

function fmtDuration(ms) {
  if (typeof ms !== "number") return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)}m ${Math.round((ms % 60000) / 1000)}s`;
}

// ---------------------------------------------------------------- API

const apiError = (status, message) => Object.assign(new Error(message), { status });

async function readJson(res) {
  const text = await res.text();
  try { return JSON.parse(text); } catch { return null; }
}

function errorMessage(res, data) {
  if (data && typeof data.error === "string") return data.error;
  return `${res.status} ${res.statusText}`.trim();
}

/** Calls the API and returns its JSON; throws an error carrying the server's message. */
async function api(method, path, body, tok = token) {
  const init = { method, headers: teamHeaders({ Authorization: `Bearer ${tok}` }), cache: "no-store" };
  if (body !== undefined) Object.assign(init.headers, { "Content-Type": "application/json" });
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init).catch((err) => {
    throw apiError(0, `cannot reach the server: ${err.message}`);
  });
  const data = await readJson(res);
  if (!res.ok) throw apiError(res.status, errorMessage(res, data));
  return data;
}

/** `headers` with the team a person acts for, when they act for several. */
function teamHeaders(headers) {
  if (team) headers["X-Dockwright-Team"] = team;
  return headers;
}

/** Shows an error in `target`; a 401 means the token is no longer good, so sign in again. */
function report(err, target) {
  if (err.status === 401) logout(err.message);
  else if (target) setText(target, err.message);
}

/** Runs `task` with `button` disabled (so a slow answer is not asked twice); errors go to `target`. */
async function busy(button, target, task) {
  button.disabled = true;
  try { await task(); } catch (err) { report(err, target); } finally { button.disabled = false; }
}

// ---------------------------------------------------------------- session

async function login(candidate) {
  showLoginError("");
  $("login").disabled = true;
  try {
    const me = await api("GET", "/v1/me", undefined, candidate);
    const teams = me.teams || [];
    const who = me.kind === "person" ? (me.name || me.user) : "a team token";
    if (!teams.length) {
      throw apiError(403, `You are signed in as ${who}, but none of your groups is in a team here: ask an admin to add one of them to a team's \`groups\`.`);
    }
    const saved = sessionStorage.getItem(TEAM_KEY);
    team = teams.length > 1 ? (teams.includes(saved) ? saved : teams[0]) : null;
    const data = await api("GET", "/v1/workflows", undefined, candidate);
    token = candidate;
    sessionStorage.setItem(TOKEN_KEY, candidate);
    setText($("user"), who);
    renderTeamPick(teams);
    enterMain(data);
  } catch (err) {
    // A refused token must not be tried again on the next load.
    if (err.status === 401 || err.status === 403) sessionStorage.removeItem(TOKEN_KEY);
    team = null;
    showLoginError(err.message);
  }
  $("login").disabled = false;
}

/** A choice of team for a person in several; hidden for one. */
function renderTeamPick(teams) {
  const pick = $("team-pick");
  pick.replaceChildren(...teams.map((t) => el("option", { text: t, attrs: { value: t } })));
  if (team) pick.value = team;
  show(pick, teams.length > 1);
}

async function switchTeam(next) {
  team = next;
  sessionStorage.setItem(TEAM_KEY, next);
  stopStream();
  show($("run"), false);
  show($("run-detail"), false);
  try {
    enterMain(await api("GET", "/v1/workflows"));
  } catch (err) {
    report(err, $("login-error"));
  }
}

// ---------------------------------------------------------------- sign-in with the provider

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const randomText = () => b64url(crypto.getRandomValues(new Uint8Array(32)));
// The page itself is where the provider sends the person back.
const redirectUri = () => `${window.location.origin}/`;

async function loadSignin() {
  try {
    const res = await fetch("/auth/config", { cache: "no-store" });
    const data = await readJson(res);
    if (res.ok && data && data.enabled && webUrl(data.authorization_endpoint)) signin = data;
  } catch {
    signin = null;
  }
  show($("sso"), Boolean(signin));
}

/** Sends the person to the provider: authorization code with PKCE (S256), a state and a nonce. */
async function startSignin() {
  const [verifier, state, nonce] = [randomText(), randomText(), randomText()];
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(SIGNIN_KEY, JSON.stringify({ verifier, state, nonce }));
  const url = new URL(signin.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code", client_id: signin.client_id, redirect_uri: redirectUri(), scope: signin.scopes,
    state, nonce, code_challenge: challenge, code_challenge_method: "S256",
  }).toString();
  window.location.assign(url.href);
}

/** Back from the provider: the code is traded for the ID token by the server, then used as any token. */
async function finishSignin(params) {
  // The code must not stay in the address bar or the history.
  window.history.replaceState(null, "", "/");
  const saved = JSON.parse(sessionStorage.getItem(SIGNIN_KEY) || "null");
  sessionStorage.removeItem(SIGNIN_KEY);
  if (params.get("error")) {
    showLoginError(`The sign-in failed: ${params.get("error_description") || params.get("error")}`);
    return;
  }
  if (!saved || saved.state !== params.get("state")) {
    showLoginError("This sign-in was not started from this page (its state does not match): sign in again.");
    return;
  }
  try {
    const res = await fetch("/auth/token", {
      method: "POST", cache: "no-store", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code: params.get("code"), code_verifier: saved.verifier, redirect_uri: redirectUri(), nonce: saved.nonce }),
    });
    const data = await readJson(res);
    if (!res.ok) throw apiError(res.status, errorMessage(res, data));
    await login(data.id_token);
  } catch (err) {
    showLoginError(err.message);
  }
}

function enterMain(data) {
  $("token").value = "";
  show($("login-section"), false);
  setText($("team"), data.team);
  for (const id of ["main", "user", "logout"]) show($(id), true);
  // One team is named; several are picked from the list instead.
  show($("team"), $("team-pick").hidden);
  renderWorkflows(data.workflows || []);
  refreshContainers();
  refreshRuns();
  refreshUsage();
}

function logout(message = "") {
  stopStream();
  token = null;
  team = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(TEAM_KEY);
  for (const id of ["main", "run", "run-detail", "team", "team-pick", "user", "logout"]) show($(id), false);
  setText($("team"), "");
  setText($("user"), "");
  show($("login-section"), true);
  showLoginError(message);
  $("token").focus();
}

function showLoginError(message) {
  setText($("login-error"), message);
  show($("login-error"), Boolean(message));
}

// ---------------------------------------------------------------- workflows

function renderWorkflows(list) {
  const box = $("workflows");
  box.replaceChildren();
  if (!list.length) box.append(el("p", { cls: "muted", text: "No workflows are open to this team." }));
  list.forEach((wf, i) => box.append(workflowForm(wf, i)));
}

function workflowForm(wf, index) {
  const form = el("form", { cls: "workflow", data: { workflow: wf.name, plugin: wf.plugin } },
    el("div", { cls: "workflow-head" }, el("h3", { text: wf.name }),
      el("span", { cls: "plugin", text: `${wf.plugin}@${wf.plugin_version}` })));
  if (wf.description) form.append(el("p", { cls: "description", text: wf.description }));
  form.append(workflowMeta(wf));
  // Inputs are kept by position: a plugin's param names need not be valid or unique.
  const fields = (wf.params || []).map((p, j) => paramField(p, `wf-${index}-p-${j}`));
  if (fields.length) form.append(el("div", { cls: "params-grid" }, ...fields));
  const inputs = fields.map((f) => f.querySelector("input"));
  form.append(el("div", { cls: "actions" },
    el("button", { cls: "run-button primary", text: "Run", attrs: { type: "submit" } })));
  form.addEventListener("submit", (event) => {
    event.preventDefault(); // the policy forbids form submission; the script posts JSON
    startRun(form, runRequest(wf, inputs));
  });
  return form;
}

function workflowMeta(wf) {
  const meta = el("div", { cls: "meta" });
  for (const perm of wf.permissions || []) meta.append(el("span", { cls: "chip", text: perm }));
  const signed = typeof wf.signer === "string" && wf.signer !== "";
  const sig = el("span", { cls: signed ? "chip signed" : "chip unsigned", text: signed ? "signed" : "unsigned" });
  if (signed) sig.title = wf.signer;
  meta.append(sig);
  return meta;
}

function paramField(param, id) {
  const label = el("label", { cls: param.required ? "required" : "", text: param.name, attrs: { for: id } });
  if (param.required) label.append(el("span", { cls: "star", text: "*", attrs: { "aria-hidden": "true" } }));
  const input = el("input", { attrs: { id, name: param.name, type: "text", autocomplete: "off", spellcheck: "false" } });
  if (param.required) input.setAttribute("aria-required", "true");
  if (param.default != null) input.placeholder = input.value = String(param.default);
  const hint = param.description ? el("small", { cls: "hint", text: param.description }) : null;
  return el("div", { cls: "param" }, label, input, hint);
}

/** The body of POST /v1/runs: empty optional inputs are left out so their default applies. */
function runRequest(wf, inputs) {
  const params = {};
  (wf.params || []).forEach((p, j) => {
    const value = inputs[j].value;
    if (value !== "" || p.required) params[p.name] = value;
  });
  return { workflow: wf.name, plugin: wf.plugin, params };
}

// ---------------------------------------------------------------- the current run

async function startRun(form, request) {
  stopStream();
  resetRunPanel();
  await busy(form.querySelector(".run-button"), $("run-error"), async () => {
    const view = await api("POST", "/v1/runs?wait=false", request).catch((err) => {
      setStatus("failed"); // refused (403, 429, ...): the run never started
      throw err;
    });
    current = { id: view.id, lastSeq: 0, controller: new AbortController() };
    showRunView(view);
    followRun(current);
  });
}

function stopStream() {
  if (current) current.controller.abort();
  current = null;
}

function resetRunPanel() {
  show($("run"), true);
  for (const id of ["run-id", "run-meta", "run-error"]) setText($(id), "");
  setStatus("starting");
  $("run-log").replaceChildren();
  renderOutputs({});
  $("run").scrollIntoView({ block: "nearest" });
}

// Updated in place, not replaced: a reader (or a test) may hold on to the element.
function setStatus(status) {
  setText($("run-status"), status);
  $("run-status").className = `badge status-${safeClass(status)}`;
}

function showRunView(view) {
  setText($("run-id"), view.id);
  setStatus(view.status);
  const meta = [view.workflow && `${view.plugin} / ${view.workflow}`, view.engine && `engine ${view.engine}`,
    view.started && `started ${fmtTime(view.started)}`, fmtDuration(view.duration_ms)];
  setText($("run-meta"), meta.filter(Boolean).join(" · "));
  // Lines the stream missed (it dropped, or never ran) are in the view's log.
  for (const line of view.log || []) appendLine(line);
  renderOutputs(view.outputs || {});
  setText($("run-error"), view.error || "");
}

function appendLine(line) {
  if (current && typeof line.seq === "number") {
    if (line.seq <= current.lastSeq) return; // already shown
    current.lastSeq = line.seq;
  }
  const log = $("run-log");
  // Follow the tail only when the reader is already at the bottom.
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  const classes = ["line", safeClass(line.stream)];
  if (line.level) classes.push(`level-${safeClass(line.level)}`);
  log.append(el("span", { cls: classes.join(" "), text: line.text, attrs: { title: fmtTime(line.time) } }));
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function renderOutputs(outputs) {
  const rows = Object.entries(outputs).map(([name, value]) =>
    el("tr", { cls: "output", data: { name } }, el("th", { text: name }), cell(linkOrText(value), "value")));
  $("run-outputs-body").replaceChildren(...rows);
  show($("run-outputs"), rows.length > 0);
  show($("run-outputs-title"), rows.length > 0);
}

/** Follows the run's events to their end; when the stream drops, shows GET /v1/runs/{id} and resumes. */
async function followRun(run) {
  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      if (await readEvents(run)) return;
    } catch (err) {
      if (run.controller.signal.aborted) return;
      if (err.status === 401) return report(err);
    }
    if (current !== run) return;
    try {
      const view = await api("GET", runPath(run.id));
      if (current !== run) return;
      showRunView(view);
      if (view.status !== "running") return runEnded();
    } catch (err) {
      return report(err, $("run-error"));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
  }
}

/** Reads one connection of the event stream; true once the `end` event came. */
async function readEvents(run) {
  const headers = teamHeaders({ Authorization: `Bearer ${token}`, Accept: "text/event-stream" });
  // Resume after the last line seen rather than replaying the whole log.
  if (run.lastSeq) headers["Last-Event-ID"] = String(run.lastSeq);
  const res = await fetch(runPath(run.id, "/events"), { headers, cache: "no-store", signal: run.controller.signal });
  if (!res.ok) throw apiError(res.status, errorMessage(res, await readJson(res)));
  let ended = false;
  const feed = sseParser((event) => {
    if (current === run && !ended) ended = handleEvent(event);
  });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  while (!ended) {
    const { value, done } = await reader.read();
    if (done) break;
    feed(decoder.decode(value, { stream: true }));
  }
  if (ended) reader.cancel().catch(() => {});
  return ended;
}

/** Shows one event; returns true for the `end` event. */
function handleEvent(event) {
  let data;
  try { data = JSON.parse(event.data); } catch { return false; }
  if (event.type === "log" || event.type === "build") appendLine(data);
  if (event.type !== "end") return false;
  showRunView(data);
  runEnded();
  return true;
}

const runEnded = () => { refreshContainers(); refreshRuns(); refreshUsage(); };

/**
 * A Server-Sent Events parser: feed it decoded text in chunks of any size; it
 * calls `onEvent({type, id, data})` for each event ended by a blank line.
 */
function sseParser(onEvent) {
  let [buffer, type, id, data] = ["", "", "", []];
  function line(text) {
    if (text === "") { // a blank line ends the event
      if (data.length) onEvent({ type: type || "message", id, data: data.join("\n") });
      [type, data] = ["", []];
      return;
    }
    if (text.startsWith(":")) return; // comment or keep-alive
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? "" : text.slice(colon + 1).replace(/^ /, "");
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  return (chunk) => {
    buffer += chunk;
    // A trailing \r may be the first half of \r\n: keep it for the next chunk.
    const held = buffer.endsWith("\r") ? "\r" : "";
    const lines = buffer.slice(0, buffer.length - held.length).split(/\r\n|\r|\n/);
    buffer = lines.pop() + held;
    lines.forEach(line);
  };
}

// ---------------------------------------------------------------- containers

async function refreshContainers() {
  const n = ++latest.containers;
  await busy($("refresh-containers"), $("containers-error"), async () => {
    const data = await api("GET", "/v1/containers");
    if (n !== latest.containers) return;
    renderContainers(data.containers || []);
    const down = (data.unreachable || []).map((u) => `engine ${u.engine} is unreachable: ${u.error}`);
    setText($("containers-error"), down.join("\n"));
  });
}

function renderContainers(list) {
  const rows = list.map(containerRow);
  $("containers-body").replaceChildren(...(rows.length ? rows : [emptyRow(7, "No containers")]));
}

function containerRow(c) {
  const name = el("span", { cls: "name", text: c.name, attrs: { title: `${c.image} · ${c.status}` } });
  // The full id stays in the text (it is what one copies); the style shortens it.
  const run = el("code", { cls: "id", text: c.run, attrs: { title: c.run ?? "" } });
  return el("tr", { data: { containerId: c.id, run: c.run } },
    cell(name), cell(el("span", { cls: `badge state-${safeClass(c.state)}`, text: c.state })),
    cell(portList(c.ports || [])), cell(run),
    cell(pluginName(c.plugin)), cell(c.engine), cell(c.run ? teardownButton(c.run) : ""));
}

/** `name@sha256:…` as its name; the whole reference stays in the title. */
function pluginName(plugin) {
  if (plugin == null) return "";
  const text = String(plugin);
  return el("span", { text: text.split("@")[0], attrs: { title: text } });
}

function portList(ports) {
  const box = el("span", { cls: "ports" });
  // The engine lists a port once per address family it is bound on: show it once.
  const seen = new Set();
  for (const p of ports) {
    const inside = `${p.container_port}/${p.protocol}`;
    const key = `${p.host_port ?? ""} ${inside}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (!p.host_port) { box.append(el("span", { text: inside })); continue; }
    // Ports are published on the engine's host, which is the host serving this page.
    box.append(linkOrText(`http://${location.hostname}:${p.host_port}/`, `${p.host_port}→${inside}`));
  }
  return box;
}

function teardownButton(run) {
  const button = el("button", { cls: "teardown danger", text: "Tear down", data: { run }, attrs: { type: "button" } });
  button.addEventListener("click", () => teardown(run));
  return button;
}

async function teardown(run) {
  // All of the run's rows go together: disable each of their buttons.
  const buttons = [...document.querySelectorAll("button.teardown")].filter((b) => b.dataset.run === run);
  buttons.forEach((b) => { b.disabled = true; });
  let problem = "";
  try {
    const result = await api("DELETE", runPath(run));
    if ((result.failed || []).length) problem = `could not remove: ${result.failed.map(String).join(", ")}`;
  } catch (err) {
    if (err.status === 401) return report(err);
    problem = err.message;
  }
  buttons.forEach((b) => { b.disabled = false; });
  // The refresh rebuilds the rows and rewrites the error line: say what failed after it.
  await refreshContainers();
  refreshRuns();
  const box = $("containers-error");
  if (problem) setText(box, [box.textContent, problem].filter(Boolean).join("\n"));
}

// ---------------------------------------------------------------- runs

async function refreshRuns() {
  const n = ++latest.runs;
  await busy($("refresh-runs"), $("runs-error"), async () => {
    const data = await api("GET", "/v1/runs?limit=20");
    if (n !== latest.runs) return;
    warnLead = data.lifetime ? data.lifetime.warn_s : null;
    const rows = (data.runs || []).map(runRow);
    $("runs-body").replaceChildren(...(rows.length ? rows : [emptyRow(9, "No runs yet")]));
    setText($("runs-error"), "");
  });
}

function runRow(r) {
  const open = el("button", { cls: "open-run ghost", text: "Calls", data: { run: r.id }, attrs: { type: "button" } });
  open.addEventListener("click", () => busy(open, $("runs-error"), () => openRun(r.id)));
  const row = el("tr", { data: { runId: r.id } },
    cell(fmtTime(r.started), "nowrap"), cell(r.workflow), cell(r.plugin), cell(statusBadges(r)),
    cell(fmtDuration(r.duration_ms), "nowrap"), cell(r.engine), cell(r.user_name || r.user || ""),
    cell(lifetimeCell(r), "nowrap"),
    cell(open));
  if (r.error) row.title = r.error;
  return row;
}

// The team's warning lead time, in seconds, as the last runs listing gave it.
let warnLead = null;

/** "3h 12m" for a number of seconds. */
function fmtLeft(secs) {
  if (secs < 60) return `${Math.max(0, Math.floor(secs))}s`;
  const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60);
  return [d && `${d}d`, h && `${h}h`, (!d && m) && `${m}m`].filter(Boolean).join(" ") || "0m";
}

// When the run's environment expires: the time left and an Extend button, or how it ended.
function lifetimeCell(r) {
  const box = el("span", { cls: "lifetime" });
  if (r.expired) {
    box.append(el("span", { cls: "badge status-expired", text: "expired", attrs: { title: `reaped at ${fmtTime(r.expired.time)}` } }));
    return box;
  }
  if (!r.expires || r.torn_down || r.status === "running") return box;
  const left = (new Date(r.expires).getTime() - Date.now()) / 1000;
  const soon = warnLead != null && left <= warnLead;
  box.append(el("span", {
    cls: soon ? "left soon" : "left", text: left > 0 ? `${fmtLeft(left)} left` : "expiring now",
    attrs: { title: `expires at ${fmtTime(r.expires)}` },
  }));
  const by = el("select", { cls: "extend-by", attrs: { "aria-label": "Extend by" } },
    ...["1h", "4h", "1d"].map((v) => el("option", { text: v, attrs: { value: v } })));
  const button = el("button", { cls: "extend ghost", text: "Extend", data: { run: r.id }, attrs: { type: "button" } });
  button.addEventListener("click", () => busy(button, $("runs-error"), async () => {
    await api("POST", runPath(r.id, "/extend"), { by: by.value });
    await refreshRuns();
  }));
  box.append(" ", by, " ", button);
  return box;
}

// How the run went, and whether its environment was torn down since (the status stays).
function statusBadges(r) {
  const badges = el("span", { cls: "badges" }, badge(r.status));
  if (r.torn_down) {
    const removed = (r.torn_down.removed || []).length;
    badges.append(" ", el("span", {
      cls: "badge status-torn-down", text: "torn down",
      attrs: { title: `at ${fmtTime(r.torn_down.time)}; ${removed} container(s) removed` },
    }));
  }
  return badges;
}

async function openRun(id) {
  renderDetail(await api("GET", runPath(id, "/calls")));
  setText($("runs-error"), "");
}

function renderDetail(data) {
  setText($("detail-id"), data.id);
  const params = Object.entries(data.params || {}).map(([k, v]) =>
    el("li", {}, el("span", { cls: "key", text: k }), "=", el("span", { cls: "val", text: v })));
  $("detail-params").replaceChildren(...(params.length ? params : [el("li", { cls: "muted", text: "none" })]));
  const calls = (data.calls || []).map(callRow);
  $("detail-calls").replaceChildren(...(calls.length ? calls : [emptyRow(8, "No calls recorded")]));
  $("detail-end").replaceChildren(statusBadges(data), el("span", { cls: "error", text: data.error || "" }));
  show($("run-detail"), true);
  $("run-detail").scrollIntoView({ block: "nearest" });
}

function callRow(c) {
  const decision = el("span", { cls: `decision ${safeClass(c.decision)}`, text: c.decision });
  return el("tr", { cls: c.decision === "denied" ? "call denied" : "call" },
    cell(fmtTime(c.time), "nowrap"), cell(c.op, "mono"), cell(c.target, "mono"), cell(decision),
    cell(c.rule, "mono"), cell(c.result), cell(c.detail), cell(c.duration_ms, "num"));
}

// ---------------------------------------------------------------- usage

async function refreshUsage() {
  const n = ++latest.usage;
  await busy($("refresh-usage"), $("usage-error"), async () => {
    const data = await api("GET", "/v1/usage?since=30d");
    if (n !== latest.usage) return;
    const hours = (x) => (typeof x === "number" ? x.toFixed(2) : "");
    const rows = (data.usage || []).map((u) => el("tr", { cls: u.workflow == null ? "total" : "" },
      cell(u.workflow == null ? "All workflows" : u.workflow), cell(u.environments, "num"),
      cell(hours(u.environment_hours), "num"), cell(hours(u.container_hours), "num"),
      cell(hours(u.memory_gib_hours), "num"), cell(hours(u.cpu_hours), "num"), cell(u.peak_containers, "num")));
    $("usage-body").replaceChildren(...(rows.length ? rows : [emptyRow(7, "Nothing used in the last 30 days")]));
    setText($("usage-error"), "");
  });
}

// ---------------------------------------------------------------- wiring

async function init() {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const candidate = $("token").value.trim();
    if (candidate) login(candidate);
    else showLoginError("Paste a token first.");
  });
  $("logout").addEventListener("click", () => logout());
  $("sso-login").addEventListener("click", () => startSignin().catch((err) => showLoginError(err.message)));
  $("team-pick").addEventListener("change", (event) => switchTeam(event.target.value));
  $("refresh-containers").addEventListener("click", refreshContainers);
  $("refresh-runs").addEventListener("click", refreshRuns);
  $("refresh-usage").addEventListener("click", refreshUsage);
  $("close-detail").addEventListener("click", () => show($("run-detail"), false));
  await loadSignin();
  const params = new URLSearchParams(window.location.search);
  if (params.has("code") || params.has("error")) return finishSignin(params);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) login(saved);
  else $("token").focus();
}

init();

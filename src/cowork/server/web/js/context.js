// What a session's turns load and can use: the instruction files and sections of its context
// (`session/context`), its skills with what shadows what (`skills/list`), the MCP servers in
// force with their status and tools (`mcp/list`: restart, enable or disable, approve a project
// server) and their prompts (`mcp/prompts`). The composer turns `/NAME REQUEST` into a skill's
// direct invocation (`skills/get` with `request`) or an MCP prompt (`mcp/prompt`), then
// `turn/start`, as `cowork chat` does.

import { html, useState, useEffect, useCallback } from '../vendor/preact.js';

const errorText = (e) => (e && e.message) || String(e);
/** How often (ms) the MCP server list is asked again while a server is starting. */
const STARTING_POLL_MS = 1000;

/**
 * The session's extensions, loaded once and again on `reload()`.
 *
 * @returns {{sections: object[]|null, skills: object[]|null, servers: object[]|null,
 *   prompts: object[]|null, errors: object, reload: () => void}}
 */
export function useExtensions(client, sessionId, workspace) {
  const [value, setValue] = useState({ sections: null, skills: null, servers: null, prompts: null, errors: {} });
  const [bump, setBump] = useState(0);
  useEffect(() => {
    if (!workspace) return undefined;  // the session is not loaded yet
    let live = true;
    const calls = {
      sections: client.call('session/context', { sessionId }).then((r) => r.sections),
      skills: client.call('skills/list', { sessionId }).then((r) => r.skills),
      servers: client.call('mcp/list', { workspace }).then((r) => r.servers),
      prompts: client.call('mcp/prompts', { workspace }).then((r) => r.prompts),
    };
    const keys = Object.keys(calls);
    Promise.allSettled(Object.values(calls)).then((results) => {
      if (!live) return;
      const next = { errors: {} };
      results.forEach((r, i) => {
        next[keys[i]] = r.status === 'fulfilled' ? r.value : [];
        if (r.status === 'rejected') next.errors[keys[i]] = errorText(r.reason);
      });
      setValue(next);
    });
    return () => { live = false; };
  }, [client, sessionId, workspace, bump]);
  // A server still starting is asked again until it is ready or failed (its tools and prompts with it).
  const starting = (value.servers || []).some((s) => s.status === 'starting');
  useEffect(() => {
    if (!starting) return undefined;
    const t = setTimeout(() => setBump((n) => n + 1), STARTING_POLL_MS);
    return () => clearTimeout(t);
  }, [starting, value]);
  const reload = useCallback(() => setBump((n) => n + 1), []);
  return { ...value, reload };
}

/**
 * The slash commands a session offers: its offered skills and its servers' prompts.
 *
 * @returns {Array<{command: string, kind: 'skill'|'prompt', description: string, entry: object}>}
 */
export function slashCommands(ext) {
  const out = [];
  for (const s of ext.skills || []) {
    if (!s.shadowedBy && !(s.errors || []).length) out.push({ command: s.name, kind: 'skill', description: s.description, entry: s });
  }
  for (const p of ext.prompts || []) out.push({ command: p.command, kind: 'prompt', description: p.description || '', entry: p });
  return out;
}

/** Words of `text` as a POSIX shell splits them (quotes group, backslash escapes), simplified. */
export function splitWords(text) {
  const words = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|((?:[^\s"'\\]|\\.)+)|(\s+)/g;
  let cur = null;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m[4] !== undefined) { if (cur !== null) words.push(cur); cur = null; continue; }
    const part = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2] !== undefined ? m[2] : m[3].replace(/\\(.)/g, '$1');
    cur = (cur || '') + part;
  }
  if (cur !== null) words.push(cur);
  return words;
}

/**
 * The values of `/mcp__S__P ARGS`, as `cowork chat` reads them (cli/mcp.py parse_prompt_args):
 * `NAME=VALUE` words by name, other words in the order the prompt declares its arguments; when
 * one argument is left, it takes the rest of the line. Throws Error for too many words or a
 * required argument left out.
 */
export function promptArguments(text, declared) {
  const names = declared.map((a) => a.name);
  const values = {};
  let positional = [];
  for (const word of splitWords(text)) {
    const i = word.indexOf('=');
    if (i > 0 && names.includes(word.slice(0, i))) values[word.slice(0, i)] = word.slice(i + 1);
    else positional.push(word);
  }
  const free = names.filter((n) => !(n in values));
  if (positional.length > free.length) {
    if (!names.length) throw new Error('this prompt takes no arguments');
    if (free.length === 1) positional = [positional.join(' ')];
    else throw new Error(`too many arguments; it takes: ${names.join(' ')}`);
  }
  free.forEach((n, i) => { if (i < positional.length) values[n] = positional[i]; });
  const missing = declared.filter((a) => a.required && !(a.name in values)).map((a) => a.name);
  if (missing.length) throw new Error(`missing ${missing.join(', ')}`);
  return values;
}

/**
 * The user message `/NAME REQUEST` stands for, or null when `text` names no command.
 *
 * A skill: `skills/get`'s `message` (use skill NAME for REQUEST, its instructions attached). An MCP
 * prompt: its `text`, with the arguments read by promptArguments().
 *
 * @returns {Promise<string|null>} rejects with the server's error (an unknown skill: -32004)
 */
export async function expandSlash(client, sessionId, workspace, text, commands) {
  const m = /^\/(\S+)(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!m) return null;
  const [, name, rest = ''] = m;
  const cmd = commands.find((c) => c.command === name);
  if (!cmd) return null;
  if (cmd.kind === 'skill') {
    const r = await client.call('skills/get', { sessionId, name, request: rest.trim() || `use the skill ${name}` });
    return r.message;
  }
  const p = cmd.entry;
  const args = promptArguments(rest, p.arguments || []);
  const r = await client.call('mcp/prompt', { server: p.server, name: p.name, arguments: args, workspace });
  return r.text;
}

const STATUS_CLASS = { ready: 'ok', failed: 'fail', needs_approval: 'warn', untrusted: 'warn', disabled: 'muted' };

function Server({ s, client, workspace, readOnly, onDone }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const act = async (method, params) => {
    setBusy(true);
    setError(null);
    try {
      await client.call(method, { name: s.name, ...(s.scope === 'project' ? { workspace } : {}), ...params });
      onDone();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return html`<li class="ext-entry" data-testid="mcp-server" data-name=${s.name} data-status=${s.status}>
    <div class="ext-row">
      <strong>${s.name}</strong>
      <span class="badge">${s.scope}</span><span class="badge">${s.transport}</span>
      <span class=${STATUS_CLASS[s.status] || ''} data-testid="mcp-status">${s.status.replace('_', ' ')}</span>
      <span class="muted">${(s.tools || []).length} tool${(s.tools || []).length === 1 ? '' : 's'}</span>
    </div>
    ${s.error ? html`<div class="muted ext-detail">${s.error}</div>` : null}
    ${(s.tools || []).length ? html`<details class="ext-detail"><summary>tools</summary>
      <ul class="ext-tools">${s.tools.map((t) => html`<li><code>${t}</code></li>`)}</ul></details>` : null}
    ${readOnly ? null : html`<div class="ext-actions">
      ${s.enabled ? html`<button type="button" class="btn btn-small" disabled=${busy} data-testid="mcp-restart"
          onClick=${() => act('mcp/restart', {})}>Restart</button>` : null}
      <button type="button" class="btn btn-small" disabled=${busy} data-testid="mcp-enable"
        onClick=${() => act('mcp/enable', { enabled: !s.enabled })}>${s.enabled ? 'Disable' : 'Enable'}</button>
      ${s.status === 'needs_approval' ? html`<button type="button" class="btn btn-small" disabled=${busy}
          onClick=${() => act('mcp/approve', { workspace })} title="run this project server from now on (until its entry changes)">Approve</button>` : null}
    </div>`}
    ${error ? html`<p class="form-error" role="alert">${error}</p>` : null}
  </li>`;
}

function scopeNote(s) {
  if ((s.errors || []).length) return html`<span class="fail">invalid: ${s.errors.join('; ')}</span>`;
  if (s.shadowedBy) return html`<span class="warn">hidden by <span class="path">${s.shadowedBy}</span></span>`;
  if ((s.shadows || []).length) return html`<span class="muted">wins over <span class="path">${s.shadows.join(', ')}</span></span>`;
  return null;
}

/**
 * The context panel of a session.
 *
 * @param {{ext: object, client: object, state: object, readOnly: boolean, onUse: (text: string) => void,
 *   onClose: () => void}} props `ext` is useExtensions()'s value; `onUse('/name ')` puts a command in the composer.
 */
export function ContextPanel({ ext, client, state, readOnly, onUse, onClose }) {
  const workspace = state.info.workspace;
  const sections = ext.sections;
  return html`<aside class="changes-panel context-panel" data-testid="context-panel" aria-label="context">
    <header class="panel-head">
      <h2 class="panel-title">Context</h2>
      <div class="panel-tools">
        <button type="button" class="btn btn-small btn-quiet" onClick=${ext.reload} aria-label="Refresh context">↻</button>
        <button type="button" class="btn btn-small btn-quiet" onClick=${onClose} aria-label="Close context">✕</button>
      </div>
    </header>
    <h3 class="subhead">What each turn loads</h3>
    ${ext.errors.sections ? html`<p class="form-error">${ext.errors.sections}</p>` : null}
    ${sections === null ? html`<p class="muted">Loading…</p>` : sections.length === 0 ? html`<p class="muted">No instruction files or skills.</p>` : html`
      <ul class="ext-list">${sections.map((s) => html`<li class="ext-entry" data-testid="context-section" data-kind=${s.kind}>
        <div class="ext-row"><strong>${s.title}</strong> <span class="muted">${s.chars.toLocaleString('en-US')} characters</span>
          ${s.truncated ? html`<span class="badge badge-warn" title="cut to its size cap">truncated</span>` : null}</div>
        ${s.source ? html`<div class="path ext-detail">${s.source}</div>` : null}
      </li>`)}</ul>`}
    <h3 class="subhead">Skills <span class="muted">(type <code>/name request</code> to use one)</span></h3>
    ${ext.errors.skills ? html`<p class="form-error">${ext.errors.skills}</p>` : null}
    <ul class="ext-list">${(ext.skills || []).map((s) => html`<li class="ext-entry" data-testid="skill" data-name=${s.name}
        data-offered=${!s.shadowedBy && !(s.errors || []).length ? 'true' : 'false'}>
      <div class="ext-row"><strong>${s.name}</strong> <span class="badge">${s.scope}</span>
        ${!readOnly && !s.shadowedBy && !(s.errors || []).length ? html`<button type="button" class="btn btn-small"
          data-testid="skill-use" onClick=${() => onUse(`/${s.name} `)}>Use</button>` : null}</div>
      ${s.description ? html`<div class="ext-detail">${s.description}</div>` : null}
      <div class="ext-detail">${scopeNote(s)}</div>
    </li>`)}</ul>
    <h3 class="subhead">MCP servers</h3>
    ${ext.errors.servers ? html`<p class="form-error">${ext.errors.servers}</p>` : null}
    ${ext.servers && !ext.servers.length ? html`<p class="muted">None configured (<code>cowork mcp add</code>).</p>` : null}
    <ul class="ext-list">${(ext.servers || []).map((s) => html`<${Server} key=${s.name + s.scope} s=${s} client=${client}
      workspace=${workspace} readOnly=${readOnly} onDone=${ext.reload} />`)}</ul>
    ${(ext.prompts || []).length ? html`<h3 class="subhead">MCP prompts</h3>
      <ul class="ext-list">${ext.prompts.map((p) => html`<li class="ext-entry" data-testid="mcp-prompt">
        <div class="ext-row"><code>/${p.command}</code>${p.arguments && p.arguments.length
          ? html` <span class="muted">${p.arguments.map((a) => `${a.name}=${a.required ? '…' : '[…]'}`).join(' ')}</span>` : null}
          ${readOnly ? null : html`<button type="button" class="btn btn-small" onClick=${() => onUse(`/${p.command} `)}>Use</button>`}</div>
        ${p.description ? html`<div class="ext-detail">${p.description}</div>` : null}
      </li>`)}</ul>` : null}
  </aside>`;
}

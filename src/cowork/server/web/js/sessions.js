// The session list (every session in the store, whoever started it: newest first, a page at a
// time, filtered by workspace and searched by title, "waiting for you" where an approval is
// pending) and the form that creates a session. The list asks `session/list` again every few
// seconds while the page is visible, so sessions started from the CLI, the REPL or the SDK
// appear by themselves.

import { html, useState, useEffect, useRef, useCallback } from '../vendor/preact.js';
import { navigate } from './router.js';

const PAGE = 50;
const REFRESH_MS = 4000;

const errorText = (e) => (e && e.message) || String(e);

function basename(path) {
  const parts = String(path || '').split('/').filter(Boolean);
  return parts.length ? parts[parts.length - 1] : path || '';
}

export function relativeTime(ts) {
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return '';
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString(undefined, { month: 'short', day: 'numeric', year: 'numeric' });
}

/**
 * The sidebar list of sessions.
 *
 * @param {{client: object, currentId: string|null, connected: boolean, onPending?: (n: number) => void}} props
 */
export function SessionList({ client, currentId, connected, bump }) {
  const [query, setQuery] = useState('');
  const [workspace, setWorkspace] = useState('');
  const [sessions, setSessions] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [pages, setPages] = useState(1);
  const [error, setError] = useState(null);
  const [workspaces, setWorkspaces] = useState([]);
  const tick = useRef(0);

  const load = useCallback(async () => {
    const mine = ++tick.current;
    const all = [];
    let next = null;
    try {
      for (let i = 0; i < pages; i++) {
        const params = { limit: PAGE };
        if (next) params.cursor = next;
        if (workspace) params.workspace = workspace;
        if (query.trim()) params.query = query.trim();
        const r = await client.call('session/list', params);
        all.push(...r.sessions);
        next = r.nextCursor;
        if (!next) break;
      }
    } catch (e) {
      if (mine === tick.current) setError(errorText(e));
      return;
    }
    if (mine !== tick.current) return;
    setSessions(all);
    setCursor(next);
    setError(null);
    setWorkspaces((prev) => {
      const seen = new Set(prev);
      for (const s of all) seen.add(s.workspace);
      return seen.size === prev.length ? prev : [...seen].sort();
    });
  }, [client, pages, workspace, query]);

  useEffect(() => {
    if (!connected) return undefined;
    const t = setTimeout(load, query ? 200 : 0);
    return () => clearTimeout(t);
  }, [load, connected, bump]);

  useEffect(() => {
    if (!connected) return undefined;
    const timer = setInterval(() => { if (document.visibilityState === 'visible') load(); }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [load, connected]);

  const waiting = (sessions || []).filter((s) => s.pending_approvals > 0).length;
  return html`<nav class="session-list" aria-label="sessions" data-testid="session-list">
    <div class="list-head">
      <h2 class="list-title">Sessions${waiting ? html` <span class="badge badge-wait" data-testid="waiting-count">${waiting} waiting</span>` : null}</h2>
      ${client.readOnly ? null : html`<a href="/new" class="btn btn-primary btn-small" data-testid="new-session"
        onClick=${(e) => { e.preventDefault(); navigate('/new'); }}>New</a>`}
    </div>
    <div class="list-filters">
      <label class="sr-only" for="session-search">Search sessions by title</label>
      <input id="session-search" type="search" placeholder="Search titles" data-testid="session-search"
        value=${query} maxlength="200" onInput=${(e) => { setQuery(e.currentTarget.value); setPages(1); }} />
      <label class="sr-only" for="workspace-filter">Workspace</label>
      <select id="workspace-filter" data-testid="workspace-filter" value=${workspace}
          onChange=${(e) => { setWorkspace(e.currentTarget.value); setPages(1); }}>
        <option value="">All workspaces</option>
        ${workspaces.map((w) => html`<option value=${w}>${basename(w)} — ${w}</option>`)}
      </select>
    </div>
    ${error ? html`<p class="form-error" role="alert">${error}</p>` : null}
    ${sessions === null ? html`<p class="muted list-empty">Loading…</p>`
      : sessions.length === 0 ? html`<p class="muted list-empty">${query || workspace ? 'No session matches.' : 'No sessions yet.'}</p>` : null}
    <ul class="sessions">
      ${(sessions || []).map((s) => html`<li key=${s.id}>
        <a href=${'/sessions/' + encodeURIComponent(s.id)} data-testid="session-item" data-session-id=${s.id}
            class=${'session-link' + (s.id === currentId ? ' current' : '')}
            aria-current=${s.id === currentId ? 'page' : null}
            onClick=${(e) => { if (e.button === 0 && !e.metaKey && !e.ctrlKey) { e.preventDefault(); navigate('/sessions/' + encodeURIComponent(s.id)); } }}>
          <span class="session-title">${s.title || 'Untitled'}</span>
          <span class="session-meta">
            <span class="path" title=${s.workspace}>${basename(s.workspace)}</span>
            <span> · ${relativeTime(s.updated_at || s.created_at)}</span>
          </span>
          ${s.pending_approvals > 0 ? html`<span class="badge badge-wait" data-testid="session-waiting">waiting for you</span>`
            : s.status === 'running' ? html`<span class="badge badge-run">running</span>` : null}
        </a>
      </li>`)}
    </ul>
    ${cursor ? html`<button type="button" class="btn btn-small load-more" data-testid="load-more"
      onClick=${() => setPages(pages + 1)}>Load more</button>` : null}
  </nav>`;
}

/**
 * The "new session" form: the workspace folder (the server checks it), the model (from
 * `models/list`), the mode and an optional title.
 */
export function NewSession({ client, onCreated }) {
  const [models, setModels] = useState(null);
  const [workspace, setWorkspace] = useState(() => new URLSearchParams(location.search).get('workspace')
    || localStorage.getItem('cowork.workspace') || '');
  const [model, setModel] = useState('');
  const [mode, setMode] = useState('default');
  const [title, setTitle] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    client.call('models/list').then((r) => { setModels(r.models); setModel(r.default || ''); })
      .catch((e) => setError(errorText(e)));
  }, [client]);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const params = { workspace: workspace.trim(), mode };
      if (model) params.model = model;
      if (title.trim()) params.title = title.trim();
      const r = await client.call('session/create', params);
      try { localStorage.setItem('cowork.workspace', params.workspace); } catch { /* private mode */ }
      onCreated(r.session);
      navigate('/sessions/' + encodeURIComponent(r.session.id));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="page page-form" aria-labelledby="new-title">
    <h1 id="new-title">New session</h1>
    <form class="form" onSubmit=${submit} data-testid="new-session-form">
      <label for="ns-workspace">Workspace folder (absolute path on the server's machine)</label>
      <input id="ns-workspace" data-testid="new-workspace" required value=${workspace} placeholder="/home/you/project"
        autocomplete="off" spellcheck="false" onInput=${(e) => setWorkspace(e.currentTarget.value)} />
      <label for="ns-model">Model</label>
      <select id="ns-model" data-testid="new-model" value=${model} onChange=${(e) => setModel(e.currentTarget.value)}>
        ${(models || []).map((m) => html`<option value=${m.model} disabled=${!m.usable}>
          ${m.model}${m.default ? ' (default)' : ''}${m.usable ? '' : ` — ${m.detail}`}</option>`)}
      </select>
      <label for="ns-mode">Mode</label>
      <select id="ns-mode" data-testid="new-mode" value=${mode} onChange=${(e) => setMode(e.currentTarget.value)}>
        ${MODES.map(([v, label]) => html`<option value=${v}>${label}</option>`)}
      </select>
      <label for="ns-title">Title (optional)</label>
      <input id="ns-title" data-testid="new-title" value=${title} maxlength="500" onInput=${(e) => setTitle(e.currentTarget.value)} />
      ${error ? html`<p class="form-error" role="alert" data-testid="new-error">${error}</p>` : null}
      <div class="form-actions">
        <button type="submit" class="btn btn-primary" data-testid="new-create" disabled=${busy}>${busy ? 'Creating…' : 'Create'}</button>
      </div>
    </form>
  </main>`;
}

export const MODES = [
  ['default', 'default: edits and commands ask'],
  ['accept-edits', 'accept-edits: edits run, commands ask'],
  ['read-only', 'read-only: nothing changes'],
  ['plan', 'plan: propose a plan first'],
  ['yolo', 'yolo: nothing asks'],
];

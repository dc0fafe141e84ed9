// The memory view (docs/memory.md): what the agent remembers across sessions, newest first or the
// best matches of a search, with the search index's state; a person adds, edits and forgets
// memories here. Every action is a `memory/*` call; a read-only token sees the list without the
// buttons (and never a private memory: the server leaves them out).

import { html, useState, useEffect, useCallback } from '../vendor/preact.js';

const errorText = (e) => (e && e.message) || String(e);
const KINDS = ['preference', 'fact', 'lesson', 'rule'];

function IndexState({ index, note }) {
  if (note) return html`<p class="muted" role="status" data-testid="memory-note">${note}</p>`;
  if (!index || index.state === 'ready') return null;
  const words = { loading: 'the embedding model is loading', indexing: `re-embedding ${index.pending} memories`,
    unavailable: 'no embedding model: search runs on full text alone' };
  return html`<p class="muted" role="status" data-testid="memory-index">Search index: ${words[index.state] || index.state}.</p>`;
}

/**
 * One `memory/*` call at a time: `[busy, error, call]`; `call(method, params, then)` runs `then()`
 * once the server answered, and shows its refusal (e.g. a text that looks like a credential) as it is.
 */
function useCall(client) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const call = async (method, params, then) => {
    setBusy(true);
    setError(null);
    try {
      await client.call(method, params);
      then();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return [busy, error, call];
}

function MemoryRow({ m, client, readOnly, onChanged }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(m.text);
  const [busy, error, call] = useCall(client);
  const act = (method, params) => call(method, params, () => { setEditing(false); onChanged(); });
  return html`<li class="memory-row" data-testid="memory-row" data-memory-id=${m.id} data-kind=${m.kind}>
    <div class="memory-meta">
      <span class="badge">${m.kind}</span>
      <span class="muted" title=${m.workspace || ''}>${m.scope === 'user' ? 'you, everywhere' : (m.workspace || 'workspace')}</span>
      ${m.private ? html`<span class="badge badge-warn" title="never shown to read-only tokens or hosted models">private</span>` : null}
      <span class="muted">${new Date(m.updated_at).toLocaleString()}</span>
    </div>
    ${editing ? html`<form class="memory-edit" onSubmit=${(e) => { e.preventDefault(); act('memory/update', { memoryId: m.id, text: text.trim() }); }}>
        <label class="sr-only" for=${'edit-' + m.id}>Memory text</label>
        <textarea id=${'edit-' + m.id} data-testid="memory-edit-text" rows="2" maxlength="2000" value=${text}
          onInput=${(e) => setText(e.currentTarget.value)}></textarea>
        <button type="submit" class="btn btn-primary btn-small" data-testid="memory-edit-save" disabled=${busy || !text.trim()}>Save</button>
        <button type="button" class="btn btn-small" onClick=${() => { setEditing(false); setText(m.text); }}>Cancel</button>
      </form>`
      : html`<p class="memory-text" data-testid="memory-text">${m.text}</p>`}
    ${error ? html`<p class="form-error" role="alert">${error}</p>` : null}
    ${readOnly || editing ? null : html`<div class="memory-actions">
      <button type="button" class="btn btn-small" data-testid="memory-edit" onClick=${() => setEditing(true)}>Edit</button>
      <button type="button" class="btn btn-small btn-danger" data-testid="memory-forget" disabled=${busy}
        onClick=${() => { if (window.confirm('Forget this memory?')) act('memory/forget', { memoryId: m.id }); }}>Forget</button>
    </div>`}
  </li>`;
}

function AddMemory({ client, onAdded }) {
  const [text, setText] = useState('');
  const [kind, setKind] = useState('preference');
  const [workspace, setWorkspace] = useState('');
  const [busy, error, call] = useCall(client);
  const submit = (e) => {
    e.preventDefault();
    const ws = workspace.trim();
    call('memory/save', { text: text.trim(), kind, scope: ws ? 'workspace' : 'user', ...(ws ? { workspace: ws } : {}) },
      () => { setText(''); onAdded(); });
  };
  return html`<form class="card memory-add" onSubmit=${submit} aria-labelledby="memory-add-h">
    <h2 id="memory-add-h">Remember something</h2>
    <label for="memory-add-text">Text (one self-contained sentence; never a secret)</label>
    <textarea id="memory-add-text" data-testid="memory-add-text" rows="2" maxlength="2000" value=${text}
      onInput=${(e) => setText(e.currentTarget.value)}></textarea>
    <div class="form-row">
      <label for="memory-add-kind">Kind</label>
      <select id="memory-add-kind" data-testid="memory-add-kind" value=${kind} onChange=${(e) => setKind(e.currentTarget.value)}>
        ${KINDS.map((k) => html`<option value=${k}>${k}</option>`)}
      </select>
      <label for="memory-add-ws">Workspace (empty: for you, in every workspace)</label>
      <input id="memory-add-ws" data-testid="memory-add-workspace" value=${workspace} placeholder="/path/to/project"
        onInput=${(e) => setWorkspace(e.currentTarget.value)} />
    </div>
    ${error ? html`<p class="form-error" role="alert" data-testid="memory-add-error">${error}</p>` : null}
    <button type="submit" class="btn btn-primary" data-testid="memory-add" disabled=${busy || !text.trim()}>Remember</button>
  </form>`;
}

/**
 * The memory page: search, the list, and (unless read-only) add, edit, forget.
 *
 * @param {{client: object, readOnly: boolean}} props
 */
export function MemoryView({ client, readOnly }) {
  const [query, setQuery] = useState('');
  const [kind, setKind] = useState('');
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [tick, setTick] = useState(0);
  const load = useCallback(async () => {
    try {
      const q = query.trim();
      if (q) {
        const r = await client.call('memory/search', { query: q, limit: 50 });
        const memories = r.hits.map((h) => h.memory).filter((m) => !kind || m.kind === kind);
        setResult({ memories, note: r.note, index: null });
      } else {
        const r = await client.call('memory/list', { kinds: kind ? [kind] : [], limit: 500 });
        setResult({ memories: r.memories, note: '', index: r.index });
      }
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [client, query, kind, tick]);
  useEffect(() => {
    const t = setTimeout(load, query ? 200 : 0);  // search as the person types, not on every key
    return () => clearTimeout(t);
  }, [load]);
  const changed = () => setTick((t) => t + 1);
  return html`<main class="page page-memory" data-testid="memory-view" aria-labelledby="memory-title">
    <h1 id="memory-title">Memory</h1>
    <p class="muted">What the agent remembers across sessions: your preferences, facts about projects, lessons
      and rules. Each turn is offered the memories relevant to it.</p>
    <div class="form-row memory-filters">
      <label for="memory-search" class="sr-only">Search memories</label>
      <input id="memory-search" type="search" data-testid="memory-search" placeholder="Search memories" value=${query}
        onInput=${(e) => setQuery(e.currentTarget.value)} />
      <label for="memory-kind" class="sr-only">Kind</label>
      <select id="memory-kind" data-testid="memory-kind" value=${kind} onChange=${(e) => setKind(e.currentTarget.value)}>
        <option value="">every kind</option>
        ${KINDS.map((k) => html`<option value=${k}>${k}</option>`)}
      </select>
    </div>
    ${error ? html`<p class="form-error" role="alert">${errorText(error)}</p>` : null}
    ${result ? html`<${IndexState} index=${result.index} note=${result.note} />` : null}
    ${result ? (result.memories.length ? html`<ul class="memory-list" data-testid="memory-list">
        ${result.memories.map((m) => html`<${MemoryRow} key=${m.id + m.updated_at} m=${m} client=${client} readOnly=${readOnly} onChanged=${changed} />`)}
      </ul>` : html`<p class="muted" data-testid="memory-empty">${query ? 'Nothing found.' : 'No memories yet: the agent saves them with its memory tool.'}</p>`)
      : html`<p class="muted" role="status">Loading…</p>`}
    ${readOnly ? null : html`<${AddMemory} client=${client} onAdded=${changed} />`}
  </main>`;
}

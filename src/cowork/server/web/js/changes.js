// The changes panel: what the agent changed in the workspace, for the whole session or one
// turn, file by file with diffs; restore one file, undo a turn's changes, rewind the
// conversation, and browse the checkpoints as a timeline. Everything goes through the
// protocol's checkpoint methods (checkpoint/list|diff|restore, turn/rewind); the panel only
// shows their answers and asks before anything changes.

import { html, useState, useEffect, useRef, useLayoutEffect, useCallback } from '../vendor/preact.js';
import { Diff, parseDiff } from './diff.js';

const CHANGE_LABEL = { added: 'added', modified: 'modified', deleted: 'deleted' };
const CHANGE_MARK = { added: 'A', modified: 'M', deleted: 'D' };
/** Diffs are open by default when a scope has at most this many files. */
const OPEN_DIFFS = 12;

const errorText = (e) => (e && e.message) || String(e);

function firstLine(s, max = 60) {
  const line = String(s ?? '').split('\n', 1)[0];
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

function formatTime(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** True when a FileChange's diff names a binary file rather than showing it. */
function isBinary(change) {
  return typeof change.diff === 'string' && /^Binary files differ/m.test(change.diff);
}

/**
 * A modal dialog (the native `<dialog>`, so focus stays inside and Escape closes it).
 *
 * @param {{title: string, testid: string, onClose: () => void, children: any}} props
 */
export function Modal({ title, testid, onClose, children }) {
  const ref = useRef(null);
  useLayoutEffect(() => {
    const d = ref.current;
    if (d && !d.open) {
      try { d.showModal(); } catch { d.setAttribute('open', ''); }
    }
    return () => { if (d && d.open) d.close(); };
  }, []);
  const onCancel = (e) => { e.preventDefault(); onClose(); };
  return html`<dialog ref=${ref} class="modal" data-testid=${testid} aria-label=${title} onCancel=${onCancel}>
    <h2 class="modal-title">${title}</h2>
    ${children}
  </dialog>`;
}

/** The list of what a restore would change, with the conflicts a person may tick. */
function PreviewList({ preview, ticked, setTicked, single }) {
  if (!preview) return html`<p class="muted" role="status">Working out what would change…</p>`;
  const changes = preview.changes || [];
  const conflicts = preview.conflicts || [];
  return html`<div class="preview">
    ${changes.length === 0
      ? html`<p>Nothing to restore: the workspace already matches.</p>`
      : html`<ul class="preview-list" aria-label="what would change">
          ${changes.map((c) => html`<li class="preview-entry">
            <span class=${'change-mark change-' + c.change}>${CHANGE_MARK[c.change] || '?'}</span>
            <span class="path">${c.path}${c.kind === 'folder' ? '/' : ''}</span>
            <span class="muted"> ${restoreVerb(c.change)}</span>
            ${c.conflict ? html`<span class="badge badge-warn">edited since</span>` : null}
          </li>`)}
        </ul>`}
    ${conflicts.length ? html`<fieldset class="conflicts" data-testid="restore-conflicts">
        <legend>⚠ ${conflicts.length === 1 ? 'This file was' : 'These files were'} edited after the agent's last change.
          Restoring loses those edits; ${single ? 'tick to overwrite them too' : 'tick each one to overwrite'} (unticked ones are left alone).</legend>
        ${single
          ? html`<label class="check"><input type="checkbox" checked=${ticked.size > 0}
              onChange=${(e) => setTicked(e.currentTarget.checked ? new Set(conflicts) : new Set())} />
              Overwrite ${conflicts.join(', ')}</label>`
          : conflicts.map((p) => html`<label class="check"><input type="checkbox" data-path=${p}
              checked=${ticked.has(p)} onChange=${(e) => {
                const next = new Set(ticked);
                if (e.currentTarget.checked) next.add(p); else next.delete(p);
                setTicked(next);
              }} /> <span class="path">${p}</span></label>`)}
      </fieldset>` : null}
    ${(preview.notRestored || preview.notRestorable || []).length ? html`<div class="not-restorable">
        Cannot be restored: ${(preview.notRestored || preview.notRestorable).map((n) => `${n.path} (${n.reason})`).join('; ')}
      </div>` : null}
  </div>`;
}

function restoreVerb(change) {
  // `change` is named checkpoint → now, so a restore does the opposite.
  if (change === 'added') return 'would be deleted';
  if (change === 'deleted') return 'would be brought back';
  return 'would be changed back';
}

function ResultSummary({ files, rewound }) {
  const parts = [];
  if (rewound && rewound.length) parts.push(`${rewound.length} turn${rewound.length === 1 ? '' : 's'} rewound`);
  if (files) {
    parts.push(`${(files.restored || []).length} path${(files.restored || []).length === 1 ? '' : 's'} restored`);
    if ((files.skipped || []).length) parts.push(`left alone (edited since): ${files.skipped.join(', ')}`);
    if ((files.notRestored || []).length) parts.push(`not restored: ${files.notRestored.map((n) => `${n.path} (${n.reason})`).join('; ')}`);
  }
  return html`<p class="result" role="status" data-testid="restore-result">Done: ${parts.join(' · ') || 'nothing changed'}.</p>`;
}

/**
 * Preview then apply `checkpoint/restore` of one checkpoint (all of it or `paths`).
 *
 * @param {{client: object, checkpointId: string, paths?: string[], title: string,
 *   onClose: () => void, onDone?: () => void}} props
 */
export function RestoreDialog({ client, checkpointId, paths, title, onClose, onDone }) {
  const [preview, setPreview] = useState(null);
  const [ticked, setTicked] = useState(new Set());
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  useEffect(() => {
    let live = true;
    const params = { checkpointId, preview: true };
    if (paths) params.paths = paths;
    client.call('checkpoint/restore', params)
      .then((r) => { if (live) setPreview(r); })
      .catch((e) => { if (live) setError(errorText(e)); });
    return () => { live = false; };
  }, [client, checkpointId, paths && paths.join('\0')]);
  const apply = async () => {
    setBusy(true);
    setError(null);
    try {
      const params = { checkpointId, preview: false, overwrite: [...ticked] };
      if (paths) params.paths = paths;
      const r = await client.call('checkpoint/restore', params);
      setResult(r);
      if (onDone) onDone(r);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const nothing = preview && !(preview.changes || []).length;
  return html`<${Modal} title=${title} testid="restore-preview" onClose=${onClose}>
    ${result ? html`<${ResultSummary} files=${result} />`
      : html`<${PreviewList} preview=${preview} ticked=${ticked} setTicked=${setTicked} />`}
    ${error ? html`<p class="form-error" role="alert">${error}</p>` : null}
    <div class="modal-actions">
      ${result ? html`<button type="button" class="btn btn-primary" onClick=${onClose}>Close</button>`
        : html`<button type="button" class="btn" data-testid="restore-cancel" onClick=${onClose}>Cancel</button>
          <button type="button" class="btn btn-danger" data-testid="restore-confirm"
            disabled=${!preview || nothing || busy} onClick=${apply}>${busy ? 'Restoring…' : 'Restore'}</button>`}
    </div>
  <//>`;
}

/** The session's `kind: "turn"` checkpoint of `turnId`, from the journaled events or the list. */
function turnCheckpointId(state, turnId, listed) {
  for (const c of state.checkpoints || []) {
    if (c.turn_id === turnId && c.kind === 'turn') return c.checkpoint_id || c.id;
  }
  for (const c of listed || []) if (c.turn_id === turnId && c.kind === 'turn') return c.id;
  return null;
}

/**
 * Rewind to before a turn: restore its code, its conversation or both (`turn/rewind`), after a
 * preview of the files a code restore would change and their conflicts. With `only: 'code'`
 * it is "undo this turn's changes" (restore the code, keep the conversation).
 *
 * @param {{state: object, client: object, turn: object, onClose: () => void,
 *   only?: 'code', onDone?: () => void}} props
 */
export function RewindDialog({ state, client, turn, onClose, only, onDone }) {
  const [preview, setPreview] = useState(null);
  const [noCode, setNoCode] = useState(null);
  const [ticked, setTicked] = useState(new Set());
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  useEffect(() => {
    let live = true;
    (async () => {
      let id = turnCheckpointId(state, turn.id, null);
      if (!id) {
        const r = await client.call('checkpoint/list', { sessionId: state.info.id, limit: 1000 });
        id = turnCheckpointId(state, turn.id, r.checkpoints);
      }
      if (!id) {
        if (live) setNoCode('No checkpoint was taken before this turn, so its files cannot be restored.');
        return;
      }
      const p = await client.call('checkpoint/restore', { checkpointId: id, preview: true });
      if (live) setPreview(p);
    })().catch((e) => { if (live) setNoCode(`Could not preview the files: ${errorText(e)}`); });
    return () => { live = false; };
  }, [client, turn.id]);
  const run = async (restore) => {
    setBusy(true);
    setError(null);
    try {
      const params = { sessionId: state.info.id, turnId: turn.id, restore };
      if (restore !== 'conversation' && ticked.size) params.force = true;
      const r = await client.call('turn/rewind', params);
      setResult(r);
      if (onDone) onDone(r);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const title = only === 'code' ? `Undo the changes of “${firstLine(turn.text)}”`
    : `Rewind to before “${firstLine(turn.text)}”`;
  const codeOk = !noCode;
  // Undo is a restore with a preview, like restoring one file: the same test ids.
  return html`<${Modal} title=${title} testid=${only === 'code' ? 'restore-preview' : 'rewind-dialog'} onClose=${onClose}>
    ${result ? html`<${ResultSummary} files=${result.files} rewound=${result.rewoundTurnIds} />` : html`
      ${only === 'code' ? html`<p>The files go back to how they were before this turn; the conversation stays.</p>`
        : html`<p><strong>Code</strong> puts the files back as they were before this turn.
          <strong>Conversation</strong> takes this turn and every later one out of the model's history
          (they stay visible here, greyed). <strong>Both</strong> does both.</p>`}
      <div data-testid="rewind-preview" class="rewind-preview">
        <h3 class="subhead">Files a code restore would change</h3>
        ${noCode ? html`<p class="muted">${noCode}</p>`
          : html`<${PreviewList} preview=${preview} ticked=${ticked} setTicked=${setTicked} single=${true} />`}
      </div>`}
    ${error ? html`<p class="form-error" role="alert" data-testid="rewind-error">${error}</p>` : null}
    <div class="modal-actions">
      ${result ? html`<button type="button" class="btn btn-primary" onClick=${onClose}>Close</button>` : html`
        <button type="button" class="btn" data-testid=${only === 'code' ? 'restore-cancel' : 'rewind-cancel'} onClick=${onClose}>Cancel</button>
        <button type="button" class=${only === 'code' ? 'btn btn-danger' : 'btn'}
          data-testid=${only === 'code' ? 'restore-confirm' : 'rewind-code'} disabled=${busy || !codeOk || !preview}
          onClick=${() => run('code')}>${only === 'code' ? 'Undo changes' : 'Code only'}</button>
        ${only === 'code' ? null : html`
          <button type="button" class="btn" data-testid="rewind-conversation" disabled=${busy}
            onClick=${() => run('conversation')}>Conversation only</button>
          <button type="button" class="btn btn-danger" data-testid="rewind-both" disabled=${busy || !codeOk || !preview}
            onClick=${() => run('both')}>Both</button>`}`}
    </div>
  <//>`;
}

function FileChange({ change, mode, open, onToggle, canRestore, onRestore }) {
  const binary = isBinary(change);
  const stats = !binary && change.diff ? parseDiff(change.diff) : null;
  const hasDiff = change.kind !== 'folder' && change.diff;
  return html`<li class=${'file-change change-' + change.change} data-testid="file-change"
      data-path=${change.path} data-change=${change.change} data-binary=${binary ? 'true' : null}
      data-kind=${change.kind}>
    <div class="file-row">
      <button type="button" class="file-toggle" aria-expanded=${open ? 'true' : 'false'}
          disabled=${!hasDiff} onClick=${onToggle} aria-label=${`${change.path}: ${CHANGE_LABEL[change.change] || change.change}${hasDiff ? (open ? ', hide diff' : ', show diff') : ''}`}>
        <span class=${'change-mark change-' + change.change} aria-hidden="true">${CHANGE_MARK[change.change] || '?'}</span>
        <span class="path">${change.path}${change.kind === 'folder' ? '/' : ''}</span>
      </button>
      ${change.kind !== 'file' ? html`<span class="badge">${change.kind}</span>` : null}
      ${binary ? html`<span class="badge">binary</span>` : null}
      ${change.conflict ? html`<span class="badge badge-warn" title="a person edited it after the agent's last change">edited since</span>` : null}
      ${stats && (stats.added || stats.removed) ? html`<span class="diffstat"><span class="add">+${stats.added}</span> <span class="del">−${stats.removed}</span></span>` : null}
      ${canRestore ? html`<button type="button" class="btn btn-small" data-testid="restore-file"
          onClick=${onRestore} aria-label=${`Restore ${change.path}`}>Restore</button>` : null}
    </div>
    ${open && hasDiff ? html`<${Diff} diff=${change.diff} path=${change.path} mode=${mode} />` : null}
  </li>`;
}

function Timeline({ checkpoints, turnLabel, selected, onPick }) {
  return html`<ol class="checkpoint-timeline" data-testid="checkpoint-timeline" aria-label="checkpoints, newest first">
    ${checkpoints.map((c) => html`<li>
      <button type="button" class=${'checkpoint-entry' + (selected === c.id ? ' selected' : '')}
          data-testid="checkpoint-entry" data-checkpoint-id=${c.id} aria-pressed=${selected === c.id ? 'true' : 'false'}
          onClick=${() => onPick(c.id)}>
        <span class="ck-kind">${c.kind === 'turn' ? 'turn start' : c.kind.replace(/^tool:/, 'before ')}</span>
        <span class="ck-time">${formatTime(c.created_at)}</span>
        <span class="ck-changed muted">${c.stats ? `${c.stats.changed} changed` : ''}</span>
        <span class="ck-turn muted">${turnLabel(c.turn_id)}</span>
      </button>
    </li>`)}
  </ol>`;
}

const UNSUPPORTED_TO = (e) => e && e.code === -32602 && /toCheckpointId/i.test(e.message || '');
let serverLacksTo = false;

/**
 * The changes panel of a session.
 *
 * @param {{state: object, client: object, readOnly: boolean, onClose?: () => void}} props
 */
export function ChangesPanel({ state, client, readOnly, onClose }) {
  const sessionId = state.info.id;
  const [listed, setListed] = useState(null);      // CheckpointInfo[], oldest first
  const [scope, setScope] = useState('session');   // 'session' | 'turn:<id>' | 'ckpt:<id>'
  const [mode, setMode] = useState('unified');
  const [view, setView] = useState(null);          // {changes, notRestorable, note, fromId}
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [open, setOpen] = useState(new Set());
  const [dialog, setDialog] = useState(null);
  const [showTimeline, setShowTimeline] = useState(false);
  const [bump, setBump] = useState(0);

  // Refresh when a checkpoint is taken or restored, or a turn ends (its last change is not
  // followed by a checkpoint), and after our own actions.
  const finished = state.turns.filter((t) => t.status !== 'running').length;
  const refreshKey = `${(state.checkpoints || []).length}|${finished}|${bump}`;
  const refresh = useCallback(() => setBump((n) => n + 1), []);

  useEffect(() => {
    let live = true;
    const timer = setTimeout(() => {
      client.call('checkpoint/list', { sessionId, limit: 1000 })
        .then((r) => { if (live) setListed([...r.checkpoints].reverse()); })
        .catch((e) => { if (live) { setListed([]); setError(errorText(e)); } });
    }, 150);
    return () => { live = false; clearTimeout(timer); };
  }, [client, sessionId, refreshKey]);

  const turnCps = (listed || []).filter((c) => c.kind === 'turn');
  const turnIndex = new Map(state.turns.map((t, i) => [t.id, i]));
  const turnLabel = (id) => {
    const i = turnIndex.get(id);
    return i === undefined ? '' : `turn ${i + 1}: ${firstLine(state.turns[i].text, 40)}`;
  };

  // What to compare: [from checkpoint, to checkpoint or null for now].
  let fromId = null;
  let toId = null;
  let scopeTurn = null;
  if (scope === 'session') {
    fromId = (turnCps[0] || (listed || [])[0] || {}).id || null;
  } else if (scope.startsWith('turn:')) {
    scopeTurn = state.turnsById.get(scope.slice(5)) || null;
    const i = turnCps.findIndex((c) => c.turn_id === scope.slice(5));
    if (i >= 0) {
      fromId = turnCps[i].id;
      toId = turnCps[i + 1] ? turnCps[i + 1].id : null;
    }
  } else if (scope.startsWith('ckpt:')) {
    fromId = scope.slice(5);
  }

  useEffect(() => {
    if (!listed) return undefined;
    if (!fromId) { setView({ changes: [], notRestorable: [], note: null, fromId: null }); return undefined; }
    let live = true;
    setLoading(true);
    (async () => {
      let note = null;
      let r;
      if (toId && !serverLacksTo) {
        try {
          r = await client.call('checkpoint/diff', { checkpointId: fromId, toCheckpointId: toId });
        } catch (e) {
          if (!UNSUPPORTED_TO(e)) throw e;
          serverLacksTo = true;
        }
      }
      if (!r) {
        if (toId) note = 'This server cannot compare two checkpoints yet: showing the changes from the start of this turn to now, later turns included.';
        r = await client.call('checkpoint/diff', { checkpointId: fromId });
      }
      if (!live) return;
      setView({ changes: r.changes || [], notRestorable: r.notRestorable || [], note, fromId, toId });
      setOpen(new Set((r.changes || []).length <= OPEN_DIFFS ? (r.changes || []).map((c) => c.path) : []));
      setError(null);
    })().catch((e) => { if (live) setError(errorText(e)); })
      .finally(() => { if (live) setLoading(false); });
    return () => { live = false; };
  }, [client, listed, fromId, toId]);

  const toggle = (path) => {
    const next = new Set(open);
    if (next.has(path)) next.delete(path); else next.add(path);
    setOpen(next);
  };
  const closeDialog = () => setDialog(null);
  const changes = view ? view.changes : [];
  const canAct = !readOnly && view && view.fromId;
  const running = state.turns.some((t) => t.status === 'running');

  return html`<aside class="changes-panel" data-testid="changes-panel" aria-label="changes">
    <header class="panel-head">
      <h2 class="panel-title">Changes</h2>
      <div class="panel-tools">
        <label class="sr-only" for="changes-scope">Show changes of</label>
        <select id="changes-scope" data-testid="changes-scope" value=${scope}
            onChange=${(e) => setScope(e.currentTarget.value)}>
          <option value="session">Whole session</option>
          ${state.turns.filter((t) => turnCps.some((c) => c.turn_id === t.id)).map((t) =>
            html`<option value=${'turn:' + t.id}>${turnLabel(t.id)}${t.rewound ? ' (rewound)' : ''}</option>`)}
          ${scope.startsWith('ckpt:') ? html`<option value=${scope}>Checkpoint ${scope.slice(5, 18)}… → now</option>` : null}
        </select>
        <button type="button" class="btn btn-small" data-testid="diff-mode-toggle"
            aria-pressed=${mode === 'split' ? 'true' : 'false'}
            onClick=${() => setMode(mode === 'unified' ? 'split' : 'unified')}
            aria-label=${mode === 'unified' ? 'Show diffs side by side' : 'Show unified diffs'}>
          ${mode === 'unified' ? 'Side by side' : 'Unified'}</button>
        <button type="button" class="btn btn-small" aria-expanded=${showTimeline ? 'true' : 'false'}
            onClick=${() => setShowTimeline(!showTimeline)}>Checkpoints</button>
        <button type="button" class="btn btn-small btn-quiet" onClick=${refresh} aria-label="Refresh changes">↻</button>
        ${onClose ? html`<button type="button" class="btn btn-small btn-quiet" onClick=${onClose}
            aria-label="Close changes">✕</button>` : null}
      </div>
    </header>
    ${showTimeline ? html`<${Timeline} checkpoints=${[...(listed || [])].reverse()} turnLabel=${turnLabel}
      selected=${scope.startsWith('ckpt:') ? scope.slice(5) : null} onPick=${(id) => setScope('ckpt:' + id)} />` : null}
    <div class="scope-line muted" role="status">
      ${!listed ? 'Loading…'
        : !fromId ? 'No checkpoints yet: nothing has been changed in this session.'
        : scope === 'session' ? 'From the session’s first checkpoint to the workspace now.'
        : scope.startsWith('ckpt:') ? 'From this checkpoint to the workspace now.'
        : view && view.toId && !view.note ? 'What this turn changed.' : 'From the start of this turn to the workspace now.'}
      ${loading ? ' Loading…' : ''}
    </div>
    ${view && view.note ? html`<p class="notice">${view.note}</p>` : null}
    ${error ? html`<p class="form-error" role="alert">${error}</p>` : null}
    ${canAct ? html`<div class="panel-actions">
        ${scopeTurn ? html`<button type="button" class="btn" data-testid="undo-turn"
            disabled=${scopeTurn.rewound} onClick=${() => setDialog({ kind: 'undo', turn: scopeTurn })}>Undo this turn’s changes</button>
          <button type="button" class="btn" data-testid="rewind-turn-panel"
            onClick=${() => setDialog({ kind: 'rewind', turn: scopeTurn })}>Rewind…</button>` : null}
        ${scope.startsWith('ckpt:') || scope === 'session' ? html`<button type="button" class="btn"
            data-testid="restore-all" disabled=${!changes.length}
            onClick=${() => setDialog({ kind: 'restore', checkpointId: view.fromId, title: scope === 'session' ? 'Restore the whole workspace to the session’s start' : 'Restore the workspace to this checkpoint' })}>
            Restore all…</button>` : null}
        ${running ? html`<span class="muted"> A turn is running: undo and rewind wait for it to end.</span>` : null}
      </div>` : null}
    ${view && view.fromId && !changes.length && !loading ? html`<p class="muted">No changes.</p>` : null}
    <ul class="file-changes" aria-label="changed files">
      ${changes.map((c) => html`<${FileChange} key=${c.path} change=${c} mode=${mode} open=${open.has(c.path)}
        onToggle=${() => toggle(c.path)} canRestore=${canAct && c.kind !== 'folder'}
        onRestore=${() => setDialog({ kind: 'restore', checkpointId: view.fromId, paths: [c.path], title: `Restore ${c.path}` })} />`)}
    </ul>
    ${view && view.notRestorable.length ? html`<div class="not-restorable">Cannot be restored:
      ${view.notRestorable.map((n) => `${n.path} (${n.reason})`).join('; ')}</div>` : null}
    ${dialog && dialog.kind === 'restore' ? html`<${RestoreDialog} client=${client} checkpointId=${dialog.checkpointId}
      paths=${dialog.paths} title=${dialog.title} onClose=${closeDialog} onDone=${refresh} />` : null}
    ${dialog && (dialog.kind === 'undo' || dialog.kind === 'rewind') ? html`<${RewindDialog} state=${state} client=${client}
      turn=${dialog.turn} only=${dialog.kind === 'undo' ? 'code' : undefined} onClose=${closeDialog} onDone=${refresh} />` : null}
  </aside>`;
}

// One session: its header (title, workspace, model, mode; rename, fork, delete), the live
// transcript, the approval cards, the composer and the changes panel. The view follows the
// session over the client's subscription: the journal is replayed from seq 1 on open, and
// after a dropped connection from the last seq applied (SessionState.lastSeq), so nothing is
// missed or shown twice.

import { html, useState, useEffect, useRef, useLayoutEffect } from '../vendor/preact.js';
import { SessionState } from './state.js';
import { Transcript } from './transcript.js';
import { ApprovalCards } from './approvals.js';
import { AgentTree } from './agents.js';
import { ChangesPanel } from './changes.js';
import { Composer } from './composer.js';
import { ContextPanel, useExtensions, slashCommands } from './context.js';
import { MODES } from './sessions.js';
import { navigate } from './router.js';
import { notifyApproval, setTitle } from './notify.js';

const errorText = (e) => (e && e.message) || String(e);
/** Within this many pixels of the bottom, the transcript follows new output. */
const STICK_PX = 80;

function useSessionState(client, sessionId) {
  const [state, setState] = useState(null);
  const [error, setError] = useState(null);
  const [replay, setReplay] = useState(null);  // {upTo} until the replay is applied
  const [, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let stop = () => {};
    let unsub = () => {};
    setState(null);
    setError(null);
    client.call('session/get', { sessionId }).then(({ session }) => {
      if (!live) return;
      const s = new SessionState(session);
      let upTo = null;
      unsub = s.subscribe(() => {
        if (upTo !== null && s.lastSeq >= upTo) { upTo = null; setReplay(null); }
        setTick((n) => n + 1);
      });
      stop = client.follow(sessionId, {
        afterSeq: () => s.lastSeq,
        onEvents: (events) => {
          const before = s.lastSeq;
          s.apply(events);
          if (upTo === null) {
            for (const ev of events) {
              if (ev.seq > before && ev.type === 'approval.requested') notifyApproval(s.info, ev);
            }
          }
        },
        onSubscribed: (lastSeq) => {
          if (lastSeq > s.lastSeq) { upTo = lastSeq; setReplay({ upTo: lastSeq }); } else { upTo = null; setReplay(null); }
        },
        onError: (e) => setError(e),
      });
      setState(s);
    }).catch((e) => { if (live) setError(e); });
    return () => { live = false; stop(); unsub(); };
  }, [client, sessionId]);
  return { state, error, replay };
}

function Header({ state, client, readOnly, panel, setPanel }) {
  const info = state.info;
  const [editing, setEditing] = useState(false);
  const [title, setTitleText] = useState(info.title || '');
  const [error, setError] = useState(null);
  const update = async (params) => {
    setError(null);
    try {
      const r = await client.call('session/update', { sessionId: info.id, ...params });
      state.setInfo(r.session);
      return true;
    } catch (e) {
      setError(errorText(e));
      return false;
    }
  };
  const rename = async (e) => {
    e.preventDefault();
    if (await update({ title: title.trim() })) setEditing(false);
  };
  const fork = async () => {
    setError(null);
    try {
      const r = await client.call('session/fork', { sessionId: info.id });
      navigate('/sessions/' + encodeURIComponent(r.session.id));
    } catch (e) { setError(errorText(e)); }
  };
  const remove = async () => {
    if (!window.confirm(`Delete the session “${info.title || info.id}” and its journal? The workspace folder is not touched.`)) return;
    setError(null);
    try {
      await client.call('session/delete', { sessionId: info.id });
      navigate('/', { replace: true });
    } catch (e) { setError(errorText(e)); }
  };
  const running = state.runningTurn() !== null;
  return html`<header class="session-head">
    <div class="session-head-main">
      ${editing ? html`<form class="rename-form" onSubmit=${rename} data-testid="rename-form">
          <label class="sr-only" for="rename-input">Session title</label>
          <input id="rename-input" data-testid="rename-input" value=${title} maxlength="500" autofocus
            onInput=${(e) => setTitleText(e.currentTarget.value)}
            onKeyDown=${(e) => { if (e.key === 'Escape') { e.preventDefault(); setEditing(false); } }} />
          <button type="submit" class="btn btn-small btn-primary">Save</button>
          <button type="button" class="btn btn-small" onClick=${() => setEditing(false)}>Cancel</button>
        </form>`
        : html`<h1 class="session-name" data-testid="session-title">${info.title || 'Untitled session'}</h1>`}
      <div class="session-facts">
        <span class="path" title="workspace" data-testid="session-workspace">${info.workspace}</span>
        <span class="fact" title="model">${info.model}</span>
        ${readOnly ? html`<span class="fact">${info.mode}</span>` : html`
          <label class="sr-only" for="mode-select">Mode</label>
          <select id="mode-select" class="mode-select" data-testid="mode-select" value=${info.mode}
              onChange=${(e) => update({ mode: e.currentTarget.value })} title="mode (applies from the next turn)">
            ${MODES.map(([v]) => html`<option value=${v}>${v}</option>`)}
          </select>`}
        <span class=${'badge ' + (running ? 'badge-run' : 'badge-idle')} data-testid="session-status">${running ? 'running' : 'idle'}</span>
      </div>
    </div>
    <div class="session-actions">
      <button type="button" class="btn btn-small" data-testid="toggle-changes" aria-pressed=${panel === 'changes' ? 'true' : 'false'}
        onClick=${() => setPanel(panel === 'changes' ? null : 'changes')} aria-keyshortcuts="Alt+C" title="Changes (Alt+C)">Changes</button>
      <button type="button" class="btn btn-small" data-testid="toggle-context" aria-pressed=${panel === 'context' ? 'true' : 'false'}
        onClick=${() => setPanel(panel === 'context' ? null : 'context')} title="instructions, skills and MCP servers">Context</button>
      ${readOnly ? null : html`
        <button type="button" class="btn btn-small" data-testid="rename" onClick=${() => { setTitleText(info.title || ''); setEditing(true); }}>Rename</button>
        <button type="button" class="btn btn-small" data-testid="fork" onClick=${fork} disabled=${running}
          title=${running ? 'a running turn is not copied: fork when it has ended' : 'copy this session'}>Fork</button>
        <button type="button" class="btn btn-small btn-danger" data-testid="delete" onClick=${remove} disabled=${running}>Delete</button>`}
    </div>
    ${error ? html`<p class="form-error" role="alert" data-testid="session-error">${error}</p>` : null}
  </header>`;
}

/**
 * The session page.
 *
 * @param {{client: object, sessionId: string, readOnly: boolean}} props
 */
export function SessionView({ client, sessionId, readOnly }) {
  const { state, error, replay } = useSessionState(client, sessionId);
  const ext = useExtensions(client, sessionId, state ? state.info.workspace : null);
  const [panel, setPanel] = useState(() => (matchMedia('(min-width: 1200px)').matches ? 'changes' : null));
  const scroller = useRef(null);
  const stick = useRef(true);

  const rev = state ? state.rev : 0;
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [rev, !!state]);

  useEffect(() => {
    if (!state) return undefined;
    setTitle(state.info.title || 'session', state.pendingApprovals().length);
    return undefined;
  }, [rev]);
  useEffect(() => () => setTitle('', 0), []);

  useEffect(() => {
    const onKey = (e) => {
      if (e.altKey && !e.ctrlKey && !e.metaKey && e.code === 'KeyC') { e.preventDefault(); setPanel((v) => (v === 'changes' ? null : 'changes')); }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  if (error) {
    const missing = error.code === -32004;
    return html`<main class="page" data-testid="session-missing">
      <h1>${missing ? 'No such session' : 'Could not open the session'}</h1>
      <p>${missing ? `The store has no session “${sessionId}”: it may have been deleted.` : errorText(error)}</p>
      <p><a href="/" onClick=${(e) => { e.preventDefault(); navigate('/'); }}>All sessions</a></p>
    </main>`;
  }
  if (!state) return html`<main class="page"><p class="muted" role="status">Opening the session…</p></main>`;

  const running = state.runningTurn() !== null;
  const onScroll = (e) => {
    const el = e.currentTarget;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
  };
  return html`<div class=${'session-page' + (panel ? ' with-panel' : '')} data-testid="session-view"
      data-session-id=${state.info.id} data-last-seq=${state.lastSeq} data-replaying=${replay ? 'true' : 'false'}>
    <div class="session-main">
      <${Header} state=${state} client=${client} readOnly=${readOnly} panel=${panel} setPanel=${setPanel} />
      <div class="transcript-scroll" ref=${scroller} onScroll=${onScroll} tabindex="-1">
        ${replay ? html`<p class="muted replay-note" role="status">Loading ${replay.upTo - state.lastSeq} events…</p>` : null}
        <${Transcript} state=${state} client=${client} readOnly=${readOnly} />
        <${AgentTree} state=${state} />
        <${ApprovalCards} state=${state} client=${client} readOnly=${readOnly} />
      </div>
      <${Composer} client=${client} state=${state} running=${running} readOnly=${readOnly} commands=${slashCommands(ext)} />
    </div>
    ${panel === 'changes' ? html`<${ChangesPanel} state=${state} client=${client} readOnly=${readOnly}
      onClose=${() => setPanel(null)} />` : null}
    ${panel === 'context' ? html`<${ContextPanel} ext=${ext} state=${state} client=${client} readOnly=${readOnly}
      onUse=${(text) => window.dispatchEvent(new CustomEvent('cowork:composer-insert', { detail: text }))}
      onClose=${() => setPanel(null)} />` : null}
  </div>`;
}

// Approval cards: one per pending approval of the session, with what the call would do
// (the command, the diff, the plan), where, and which rule asked and why; answered once, for
// the session (showing the narrow pattern that allows) or denied with a reason; several
// answered together. A card stays a moment after its `approval.resolved` arrives — from this
// tab or any other client — saying who answered, then goes. Alt+Y / Alt+S / Alt+N answer the
// newest pending card.

import { html, useState, useEffect, useLayoutEffect, useRef, useCallback } from '../vendor/preact.js';
import { Diff } from './diff.js';

/** How long (ms) an answered or expired card stays on screen. */
const LINGER_MS = 2500;
const PLAN_MODES = [
  ['default', 'default: ask before changes'],
  ['accept-edits', 'accept edits: file edits run without asking'],
  ['read-only', 'read-only'],
  ['yolo', 'yolo: nothing asks'],
];
const DECISION_TEXT = { once: 'Allowed once', session: 'Allowed for this session', deny: 'Denied' };

const errorText = (e) => (e && e.message) || String(e);

/**
 * A `session` answer's patterns for people: `bash:git status` → "`git status`",
 * `path:out.txt` → "out.txt", a bare tool name → "every TOOL call".
 *
 * @param {string[]} suggestion the request's `suggestion`
 * @returns {string}
 */
export function describeSuggestion(suggestion) {
  if (!Array.isArray(suggestion) || !suggestion.length) return '';
  return suggestion.map((s) => {
    const i = s.indexOf(':');
    if (i < 0) return `every ${s} call`;
    const tool = s.slice(0, i);
    const rest = s.slice(i + 1);
    if (tool === 'bash') return `\`${rest}\``;
    if (tool === 'path') return rest;
    return `${tool} ${rest}`;
  }).join(', ');
}

function isPlan(a) {
  return a.rule === 'plan' || a.tool === 'propose_plan';
}

function planSteps(a) {
  const steps = a.arguments && Array.isArray(a.arguments.steps) ? a.arguments.steps : null;
  if (steps) return steps.map(String);
  return String(a.diff || '').split('\n').map((l) => l.replace(/^\s*\d+\.\s*/, '')).filter((l) => l.trim());
}

function answeredText(a) {
  const r = a.resolved;
  if (!r) return '';
  const who = r.answered_by ? ` in ${r.answered_by}` : '';
  const why = r.decision === 'deny' && r.reason ? `: “${r.reason}”` : '';
  return `${DECISION_TEXT[r.decision] || r.decision}${who}${why}`;
}

function CallPreview({ a }) {
  const args = a.arguments;
  if (isPlan(a)) return null;
  if (a.tool === 'bash' && args && typeof args.command === 'string') {
    return html`<pre class="approval-command" aria-label="command">$ ${args.command}</pre>`;
  }
  if (a.diff) {
    const path = args && typeof args === 'object' ? args.path : undefined;
    return html`<div class="approval-diff"><${Diff} diff=${a.diff} path=${path} mode="unified" /></div>`;
  }
  const text = typeof args === 'string' ? args : JSON.stringify(args, null, 2);
  return html`<pre class="approval-args" aria-label="arguments">${text}</pre>`;
}

function PlanEditor({ a, steps, setSteps, mode, setMode, disabled }) {
  const id = `plan-${a.approval_id}`;
  return html`<div class="plan-editor">
    ${a.arguments && a.arguments.summary ? html`<p class="plan-summary">${a.arguments.summary}</p>` : null}
    <label for=${id + '-steps'}>The plan, one step per line (edit it before approving)</label>
    <textarea id=${id + '-steps'} class="plan-steps" data-testid="approval-plan-steps" rows=${Math.min(12, steps.split('\n').length + 1)}
      value=${steps} disabled=${disabled} onInput=${(e) => setSteps(e.currentTarget.value)}></textarea>
    <label for=${id + '-mode'}>Then carry it out in mode</label>
    <select id=${id + '-mode'} data-testid="approval-plan-mode" value=${mode} disabled=${disabled}
        onChange=${(e) => setMode(e.currentTarget.value)}>
      ${PLAN_MODES.map(([v, label]) => html`<option value=${v}>${label}</option>`)}
    </select>
  </div>`;
}

function ApprovalCard({ a, client, readOnly, multi, selected, onSelect, lingering, cardRef }) {
  const [denying, setDenying] = useState(false);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [lost, setLost] = useState(null);
  const [error, setError] = useState(null);
  const original = planSteps(a).join('\n');
  const [steps, setSteps] = useState(original);
  const [mode, setMode] = useState('default');
  const reasonRef = useRef(null);
  const state = a.resolved ? 'resolved' : a.expired ? 'expired' : 'pending';
  const plan = isPlan(a);
  const options = a.options || ['once', 'session', 'deny'];

  useEffect(() => { if (denying && reasonRef.current) reasonRef.current.focus(); }, [denying]);

  const respond = async (decision, extra = {}) => {
    setBusy(true);
    setError(null);
    try {
      await client.call('approval/respond', { approvalId: a.approval_id, decision, ...extra });
    } catch (e) {
      // -32012: another client answered first (or the turn ended); the resolved event says who.
      if (e && e.code === -32012) setLost(errorText(e));
      else setError(errorText(e));
      setBusy(false);
    }
  };
  const approvePlan = () => {
    const edited = steps.split('\n').map((s) => s.trim()).filter(Boolean);
    const extra = { mode };
    if (edited.join('\n') !== original.split('\n').map((s) => s.trim()).filter(Boolean).join('\n')) {
      extra.editedPlan = edited;
    }
    respond('once', extra);
  };
  const deny = () => respond('deny', reason.trim() ? { reason: reason.trim() } : {});

  // Keyboard answers come from ApprovalCards as a custom event on the newest card. A layout
  // effect: the listener is there before the card is painted, so a key pressed the moment the
  // card appears is not lost.
  useLayoutEffect(() => {
    const el = cardRef && cardRef.current;
    if (!el) return undefined;
    const onKey = (e) => {
      if (state !== 'pending' || readOnly || busy) return;
      const k = e.detail;
      if (k === 'once') (plan ? approvePlan() : respond('once'));
      else if (k === 'session' && options.includes('session') && !plan) respond('session');
      else if (k === 'deny') setDenying(true);
    };
    el.addEventListener('cowork:approval-key', onKey);
    return () => el.removeEventListener('cowork:approval-key', onKey);
  });

  const who = a.agent ? `Subagent “${a.agent.task.length > 60 ? a.agent.task.slice(0, 59) + '…' : a.agent.task}”: ` : '';
  const title = plan ? 'The agent proposes a plan' : `${who}${a.tool} wants to run`;
  const disabled = busy || state !== 'pending';
  return html`<article ref=${cardRef} class=${`approval-card approval-${state}${lingering ? ' lingering' : ''}`}
      data-testid="approval-card" data-approval-id=${a.approval_id} data-state=${state}
      aria-label=${`approval: ${plan ? 'plan' : a.tool}`}>
    <header class="approval-head">
      ${multi && state === 'pending' && !readOnly ? html`<input type="checkbox" class="approval-select"
          data-testid="approval-select" checked=${selected} onChange=${(e) => onSelect(a.approval_id, e.currentTarget.checked)}
          aria-label=${`select this ${a.tool} approval`} />` : null}
      <h3 class="approval-title">${title}</h3>
      ${a.rule ? html`<span class="badge" title="the rule that asked">${a.rule}</span>` : null}
      ${a.agent ? html`<a class="badge badge-agent" data-testid="approval-agent" href=${'/sessions/' + encodeURIComponent(a.agent.session_id)}
          title="open the subagent's session">subagent</a>` : null}
    </header>
    ${a.reason ? html`<p class="approval-reason-text">${a.reason}</p>` : null}
    <${CallPreview} a=${a} />
    ${plan ? html`<${PlanEditor} a=${a} steps=${steps} setSteps=${setSteps} mode=${mode} setMode=${setMode}
      disabled=${disabled || readOnly} />` : null}
    ${a.cwd ? html`<p class="approval-cwd muted">in <span class="path">${a.cwd}</span></p>` : null}
    ${state === 'resolved' ? html`<p class="approval-answered" data-testid="approval-answered-by" role="status">
        ${lost ? 'Already answered: ' : ''}${answeredText(a)}</p>` : null}
    ${state === 'expired' ? html`<p class="approval-answered muted" role="status">The turn ended before anyone answered.</p>` : null}
    ${state === 'pending' && lost ? html`<p class="approval-answered" role="status">Already answered elsewhere…</p>` : null}
    ${error ? html`<p class="form-error" role="alert">${error}</p>` : null}
    ${state === 'pending' && !readOnly && !lost ? (denying ? html`<div class="approval-deny-form">
        <label for=${'reason-' + a.approval_id}>Why not? (the model reads this)</label>
        <textarea id=${'reason-' + a.approval_id} ref=${reasonRef} data-testid="approval-reason" rows="2"
          maxlength="4000" value=${reason} onInput=${(e) => setReason(e.currentTarget.value)}
          onKeyDown=${(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); deny(); }
            if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); setDenying(false); }
          }}></textarea>
        <div class="approval-actions">
          <button type="button" class="btn btn-danger" data-testid="approval-deny-confirm" disabled=${busy}
            onClick=${deny}>${plan ? 'Reject the plan' : 'Deny'}</button>
          <button type="button" class="btn" onClick=${() => setDenying(false)} disabled=${busy}>Back</button>
        </div>
      </div>` : html`<div class="approval-actions">
        <button type="button" class="btn btn-primary" data-testid="approval-once" disabled=${disabled}
          onClick=${() => (plan ? approvePlan() : respond('once'))} aria-keyshortcuts="Alt+Y">
          ${plan ? 'Approve the plan' : 'Allow once'}</button>
        ${options.includes('session') && !plan ? html`<button type="button" class="btn" data-testid="approval-session"
          disabled=${disabled} onClick=${() => respond('session')} aria-keyshortcuts="Alt+S"
          title=${(a.suggestion || []).join(', ')}>
          Allow for this session${a.suggestion && a.suggestion.length ? html`: <span class="suggestion">${describeSuggestion(a.suggestion)}</span>` : ''}</button>` : null}
        <button type="button" class="btn" data-testid="approval-deny" disabled=${disabled}
          onClick=${() => setDenying(true)} aria-keyshortcuts="Alt+N">${plan ? 'Reject…' : 'Deny…'}</button>
      </div>`) : null}
  </article>`;
}

/**
 * The session's pending (and just-answered) approval cards.
 *
 * @param {{state: object, client: object, readOnly: boolean}} props `state` is a SessionState
 *   (js/state.js); read-only callers see the cards without buttons.
 */
export function ApprovalCards({ state, client, readOnly }) {
  const seen = useRef(new Set());        // approval ids this view saw pending
  const gone = useRef(new Map());        // approval id -> when it stopped being pending
  const refs = useRef(new Map());
  const [, setTick] = useState(0);
  const [selected, setSelected] = useState(new Set());
  const [batchReason, setBatchReason] = useState('');
  const [batchBusy, setBatchBusy] = useState(false);
  const [batchNote, setBatchNote] = useState(null);
  const now = Date.now();

  const pending = [];
  const shown = [];
  for (const a of state.approvals.values()) {
    const isPending = !a.resolved && !a.expired;
    if (isPending) {
      seen.current.add(a.approval_id);
      pending.push(a);
      shown.push(a);
    } else if (seen.current.has(a.approval_id)) {
      if (!gone.current.has(a.approval_id)) gone.current.set(a.approval_id, now);
      if (now - gone.current.get(a.approval_id) < LINGER_MS) shown.push(a);
    }
  }
  const lingering = shown.length - pending.length;

  // Re-render once the lingering cards are due to go.
  useEffect(() => {
    if (!lingering) return undefined;
    const t = setTimeout(() => setTick((n) => n + 1), LINGER_MS + 50);
    return () => clearTimeout(t);
  }, [lingering, state.rev]);

  // Focus: when the card holding the focus is answered, move it to the next pending card.
  const pendingIds = pending.map((a) => a.approval_id).join(' ');
  const lastPending = useRef(pendingIds);
  useEffect(() => {
    const before = lastPending.current;
    lastPending.current = pendingIds;
    if (before === pendingIds) return;
    const active = document.activeElement;
    const card = active && active.closest ? active.closest('[data-testid="approval-card"]') : null;
    if (!card || card.dataset.state === 'pending') return;
    const next = pending[0] && refs.current.get(pending[0].approval_id);
    const button = next && next.current && next.current.querySelector('[data-testid="approval-once"]');
    if (button) button.focus();
  }, [pendingIds]);

  // Alt+Y / Alt+S / Alt+N answer the newest pending card (the listener follows it before the
  // card is painted: a layout effect).
  const newest = pending[pending.length - 1];
  useLayoutEffect(() => {
    if (readOnly || !newest) return undefined;
    const onKey = (e) => {
      if (!e.altKey || e.ctrlKey || e.metaKey || e.repeat) return;
      const k = { KeyY: 'once', KeyS: 'session', KeyN: 'deny' }[e.code];
      if (!k) return;
      const ref = refs.current.get(newest.approval_id);
      if (!ref || !ref.current) return;
      e.preventDefault();
      ref.current.dispatchEvent(new CustomEvent('cowork:approval-key', { detail: k }));
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [readOnly, newest && newest.approval_id]);

  const onSelect = useCallback((id, on) => {
    setSelected((prev) => {
      const next = new Set(prev);
      if (on) next.add(id); else next.delete(id);
      return next;
    });
  }, []);

  if (!shown.length) return null;
  const chosen = pending.filter((a) => selected.has(a.approval_id)).map((a) => a.approval_id);
  const batch = async (decision) => {
    setBatchBusy(true);
    setBatchNote(null);
    try {
      const params = { approvalIds: chosen, decision };
      if (decision === 'deny' && batchReason.trim()) params.reason = batchReason.trim();
      const r = await client.call('approval/respond', params);
      const lostOnes = (r.results || []).filter((x) => !x.answered);
      if (lostOnes.length) {
        setBatchNote(`${lostOnes.length} of ${chosen.length} had already been answered elsewhere or were not open to this answer.`);
      }
      setSelected(new Set());
      setBatchReason('');
    } catch (e) {
      setBatchNote(errorText(e));
    } finally {
      setBatchBusy(false);
    }
  };
  const refFor = (id) => {
    let r = refs.current.get(id);
    if (!r) { r = { current: null }; refs.current.set(id, r); }
    return r;
  };
  const multi = pending.length > 1;
  return html`<section class="approvals" aria-label="approvals">
    <p class="sr-only" aria-live="polite">${pending.length ? `${pending.length} approval${pending.length === 1 ? '' : 's'} waiting for you` : ''}</p>
    ${multi && !readOnly ? html`<div class="approval-batch" role="group" aria-label="answer several approvals">
      <label class="check"><input type="checkbox" checked=${chosen.length === pending.length}
        onChange=${(e) => setSelected(e.currentTarget.checked ? new Set(pending.map((a) => a.approval_id)) : new Set())} />
        Select all ${pending.length}</label>
      <label class="sr-only" for="approval-batch-reason">Reason for denying the selected calls</label>
      <input id="approval-batch-reason" type="text" class="batch-reason" data-testid="approval-batch-reason"
        placeholder="reason (for deny)" maxlength="4000" value=${batchReason}
        onInput=${(e) => setBatchReason(e.currentTarget.value)} />
      <button type="button" class="btn btn-primary" data-testid="approval-batch-once"
        disabled=${!chosen.length || batchBusy} onClick=${() => batch('once')}>Allow selected (${chosen.length})</button>
      <button type="button" class="btn btn-danger" data-testid="approval-batch-deny"
        disabled=${!chosen.length || batchBusy} onClick=${() => batch('deny')}>Deny selected</button>
      ${batchNote ? html`<p class="muted" role="status">${batchNote}</p>` : null}
    </div>` : null}
    ${shown.map((a) => html`<${ApprovalCard} key=${a.approval_id} a=${a} client=${client} readOnly=${readOnly}
      multi=${multi} selected=${selected.has(a.approval_id)} onSelect=${onSelect}
      lingering=${!!(a.resolved || a.expired)} cardRef=${refFor(a.approval_id)} />`)}
  </section>`;
}

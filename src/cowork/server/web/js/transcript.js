// The live transcript of a session: every turn in order, each item as the protocol journals
// it (user and assistant messages, reasoning, tool calls, errors) and a footer per turn with
// its usage, time, stop reason, warnings and failure. Turns and items re-render only when their
// `rev` (or the approval waiting on them) changes, so a long session stays cheap to update.

import { html, Component, useState, useRef, useCallback } from '../vendor/preact.js';
import { Markdown } from './markdown.js';
import { Diff } from './diff.js';
import { RewindDialog } from './changes.js';

/** Output longer than this many lines (or characters) is shown as head and tail. */
const OUTPUT_LINES = 40;
const OUTPUT_CHARS = 6000;
const HEAD_LINES = 15;
const TAIL_LINES = 15;

const FINAL_STATUSES = new Set(['completed', 'failed', 'denied', 'interrupted']);
const STATUS_ICON = {
  pending: '○', running: '◐', awaiting_approval: '⏸', completed: '✓', failed: '✗',
  denied: '⊘', interrupted: '■',
};
const STATUS_LABEL = {
  pending: 'pending', running: 'running', awaiting_approval: 'waiting for approval',
  completed: 'completed', failed: 'failed', denied: 'denied', interrupted: 'interrupted',
};
const STOP_REASON = {
  end_turn: null,
  max_steps: 'stopped at the step limit: the answer may be unfinished',
  max_tokens: 'stopped at the output token limit: the answer may be unfinished',
};

/**
 * A duration for people: `850 ms`, `3.2 s`, `2 m 05 s`.
 *
 * @param {number|null|undefined} ms milliseconds
 * @returns {string} '' when unknown
 */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} m ${String(Math.round(s - m * 60)).padStart(2, '0')} s`;
}

function formatCost(usd) {
  if (usd === null || usd === undefined) return null;
  if (usd === 0) return '$0';
  return usd < 0.01 ? `$${usd.toPrecision(2)}` : `$${usd.toFixed(usd < 1 ? 3 : 2)}`;
}

const fmtInt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '0');

function firstLine(s, max = 120) {
  const line = String(s ?? '').split('\n', 1)[0];
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

/**
 * One line describing a tool call from its arguments, for when the server gave no `summary`.
 *
 * @param {{name: string, arguments: object|string}} item a `tool_call` item
 * @returns {string}
 */
export function deriveSummary(item) {
  const a = item.arguments;
  if (!a || typeof a !== 'object') return typeof a === 'string' ? firstLine(a) : '';
  switch (item.name) {
    case 'bash': return firstLine(a.command);
    case 'read': case 'write': case 'edit': case 'ls': return a.path ? String(a.path) : '';
    case 'glob': case 'grep':
      return [a.pattern, a.path && a.path !== '.' ? `in ${a.path}` : ''].filter(Boolean).join(' ');
    case 'move': return a.source ? `${a.source} → ${a.destination ?? ''}` : '';
    case 'web_fetch': return a.url ? String(a.url) : '';
    case 'todo_write': return Array.isArray(a.todos) ? `${a.todos.length} items` : '';
    case 'propose_plan': return Array.isArray(a.steps) ? `${a.steps.length} steps` : '';
    default: {
      const first = Object.values(a).find((v) => typeof v === 'string');
      return first ? firstLine(first) : '';
    }
  }
}

/**
 * The status a tool call shows: its final status once completed, else derived from the
 * stream (waiting for approval while an approval is pending, interrupted when its turn ended).
 *
 * @param {object} item `tool_call` item
 * @param {object|undefined} approval the approval of this call, if any
 * @param {string} turnStatus
 * @returns {string} one of pending, running, awaiting_approval, completed, failed, denied, interrupted
 */
export function toolStatus(item, approval, turnStatus) {
  if (FINAL_STATUSES.has(item.status)) return item.status;
  if (approval && !approval.resolved && !approval.expired) return 'awaiting_approval';
  if (turnStatus !== 'running') return 'interrupted';
  if (approval && approval.resolved && approval.resolved.decision === 'deny') return 'denied';
  if (item.status === 'awaiting_approval' || item.status === 'running') return item.status;
  if (approval && approval.resolved) return 'running';
  const args = item.arguments;
  const hasArgs = args && (typeof args === 'string' || Object.keys(args).length > 0);
  return hasArgs ? 'running' : 'pending';
}

/** Output kept to its head and tail, with a button for the whole of it. */
function LongText({ text, label }) {
  const [all, setAll] = useState(false);
  const s = String(text ?? '');
  const lines = s.split('\n');
  const long = lines.length > OUTPUT_LINES || s.length > OUTPUT_CHARS;
  if (!long || all) return html`<pre class="tool-pre" aria-label=${label}>${s}</pre>`;
  let head;
  let tail;
  let hidden;
  if (lines.length > OUTPUT_LINES) {
    head = lines.slice(0, HEAD_LINES).join('\n');
    tail = lines.slice(-TAIL_LINES).join('\n');
    hidden = `${lines.length - HEAD_LINES - TAIL_LINES} lines`;
  } else {
    head = s.slice(0, OUTPUT_CHARS / 2);
    tail = s.slice(-OUTPUT_CHARS / 4);
    hidden = `${s.length - head.length - tail.length} characters`;
  }
  return html`<div class="long-text">
    <pre class="tool-pre" aria-label=${label}>${head}</pre>
    <button type="button" class="btn btn-small show-all" onClick=${() => setAll(true)}
      aria-label=${`show all of the ${label}: ${hidden} hidden`}>… ${hidden} hidden · show all</button>
    <pre class="tool-pre">${tail}</pre>
  </div>`;
}

function Checklist({ todos }) {
  if (!Array.isArray(todos) || !todos.length) return null;
  return html`<ul class="todo-list" data-testid="todo-list" aria-label="plan">
    ${todos.map((t) => html`<li class=${'todo todo-' + (t.status || 'pending')}>
      <span class="todo-box" aria-hidden="true">${t.status === 'completed' ? '☑' : t.status === 'in_progress' ? '◧' : '☐'}</span>
      <span class="todo-text">${t.content ?? String(t)}</span>
      ${t.status === 'in_progress' ? html`<span class="sr-only"> (in progress)</span>` : null}
      ${t.status === 'completed' ? html`<span class="sr-only"> (done)</span>` : null}
    </li>`)}
  </ul>`;
}

function argumentsView(item) {
  const a = item.arguments;
  if (typeof a === 'string') return html`<${LongText} text=${a} label="arguments (not valid JSON)" />`;
  if (!a || !Object.keys(a).length) return null;
  if (item.name === 'bash' && typeof a.command === 'string') {
    const rest = { ...a };
    delete rest.command;
    return html`<pre class="tool-pre tool-command" aria-label="command">$ ${a.command}</pre>
      ${Object.keys(rest).length ? html`<pre class="tool-pre">${JSON.stringify(rest, null, 2)}</pre>` : null}`;
  }
  if (item.name === 'write' || item.name === 'edit') {
    const rest = { ...a };
    delete rest.content; delete rest.old_string; delete rest.new_string;
    return html`<pre class="tool-pre" aria-label="arguments">${JSON.stringify(rest, null, 2)}</pre>`;
  }
  return html`<${LongText} text=${JSON.stringify(a, null, 2)} label="arguments" />`;
}

function ToolDetails({ item, approval }) {
  const meta = item.metadata || {};
  const policy = item.policy;
  const facts = [];
  if (meta.exit_code !== undefined && meta.exit_code !== null) facts.push(`exit ${meta.exit_code}`);
  if (meta.sandbox) facts.push(`sandbox: ${meta.sandbox}`);
  if (meta.sandbox_denied) facts.push(`the sandbox had no ${meta.sandbox_denied}`);
  if (meta.escalation) facts.push(`re-run with ${meta.escalation} access`);
  if (policy) facts.push(`policy: ${policy.outcome} (${policy.rule})`);
  if (approval && approval.resolved) {
    const r = approval.resolved;
    facts.push(`approval: ${r.decision}${r.answered_by ? ` in ${r.answered_by}` : ''}${r.reason ? ` · “${r.reason}”` : ''}`);
  }
  return html`<div class="tool-details" data-testid="tool-call-details">
    ${facts.length ? html`<div class="tool-facts">${facts.join(' · ')}</div>` : null}
    ${argumentsView(item)}
    ${item.output !== null && item.output !== undefined && item.output !== ''
      ? html`<div class="tool-output-label">Output</div><${LongText} text=${item.output} label="output" />`
      : null}
    ${Array.isArray(meta.notes) && meta.notes.length ? html`<div class="tool-facts">instructions read:
      ${meta.notes.map((n) => n.source).join(', ')}</div>` : null}
  </div>`;
}

function ToolCall({ item, approval, turnStatus }) {
  const [open, setOpen] = useState(false);
  const status = toolStatus(item, approval, turnStatus);
  const summary = item.summary || deriveSummary(item);
  const meta = item.metadata || {};
  const diff = meta.diff || (approval && approval.diff && (item.name === 'write' || item.name === 'edit') ? approval.diff : null);
  const todos = meta.todos || (item.name === 'todo_write' && item.arguments && item.arguments.todos) || null;
  const onToggle = useCallback((e) => setOpen(e.currentTarget.open), []);
  return html`<div class=${'tool-call tool-' + status} data-testid="tool-call" data-item-id=${item.id}
      data-tool=${item.name} data-status=${status}>
    <details open=${open} onToggle=${onToggle}>
      <summary data-testid="tool-call-summary" class="tool-row">
        <span class=${'status-icon status-' + status} role="img" aria-label=${STATUS_LABEL[status]}
          title=${STATUS_LABEL[status]}>${STATUS_ICON[status]}</span>
        <span class="tool-name">${item.name}</span>
        <span class="tool-summary">${summary}</span>
        ${item.duration_ms !== null && item.duration_ms !== undefined
          ? html`<span class="tool-duration">${formatDuration(item.duration_ms)}</span>` : null}
      </summary>
      ${open ? html`<${ToolDetails} item=${item} approval=${approval} />` : null}
    </details>
    ${diff && (item.name === 'write' || item.name === 'edit')
      ? html`<div class="tool-diff"><${Diff} diff=${diff} path=${meta.path || (item.arguments && item.arguments.path)} mode="unified" /></div>`
      : null}
    ${todos ? html`<${Checklist} todos=${todos} />` : null}
    ${item.agent ? html`<${AgentRow} agent=${item.agent} />` : null}
  </div>`;
}

/** The subagent a spawn_agent call started: its status, and a link to its session. */
export function AgentRow({ agent }) {
  const status = agent.status === 'waiting_approval' ? 'awaiting_approval' : agent.status;
  return html`<a class=${'agent-row status-' + status} data-testid="subagent" data-status=${agent.status}
      data-session-id=${agent.agent.session_id} href=${'/sessions/' + encodeURIComponent(agent.agent.session_id)}>
    <span class=${'status-icon status-' + status} role="img" aria-label=${STATUS_LABEL[status]}>${STATUS_ICON[status]}</span>
    <span class="agent-label">subagent${agent.agent.agent ? ` ${agent.agent.agent}` : ''}</span>
    <span class="agent-task">${agent.agent.task}</span>
    <span class="agent-status muted">${STATUS_LABEL[status]}</span>
  </a>`;
}

function ErrorItem({ item }) {
  const retry = item.code === 'model_retry';
  return html`<div class=${'error-item' + (retry ? ' error-retry' : '')} data-testid="error-item"
      data-code=${item.code} role=${retry ? 'status' : 'alert'}>
    <span class="error-code">${retry ? 'Retrying' : item.code}</span>
    <span class="error-message">${item.message}</span>
  </div>`;
}

function isStreaming(item, turn, last) {
  if (turn.status !== 'running') return false;
  if (item.completed === true || item.done === true) return false;
  if (item.completed === false || item.done === false) return true;
  return last;
}

function ItemView({ item, approval, turn, last }) {
  switch (item.type) {
    case 'user_message':
      return html`<div class="msg msg-user" data-testid="user-message" data-item-id=${item.id}>
        <div class="msg-text">${item.text}</div></div>`;
    case 'assistant_message': {
      const streaming = isStreaming(item, turn, last);
      return html`<div class=${'msg msg-assistant' + (streaming ? ' streaming' : '')}
          data-testid="assistant-message" data-item-id=${item.id}>
        <${Markdown} text=${item.text || ''} streaming=${streaming} /></div>`;
    }
    case 'reasoning': {
      const streaming = isStreaming(item, turn, last);
      return html`<details class="reasoning" data-testid="reasoning" data-item-id=${item.id}>
        <summary>${streaming ? 'Thinking…' : 'Reasoning'}</summary>
        <div class="reasoning-text">${item.text}</div></details>`;
    }
    case 'tool_call':
      return html`<${ToolCall} item=${item} approval=${approval} turnStatus=${turn.status} />`;
    case 'error':
      return html`<${ErrorItem} item=${item} />`;
    default:
      return html`<div class="item-unknown">${item.type}</div>`;
  }
}

/** An item, re-rendered only when its signature (rev, approval, turn status) changes. */
class MemoItem extends Component {
  shouldComponentUpdate(next) {
    return next.sig !== this.props.sig;
  }

  render({ item, approval, turn, last }) {
    return html`<${ItemView} item=${item} approval=${approval} turn=${turn} last=${last} />`;
  }
}

function approvalSig(a) {
  if (!a) return '';
  return a.resolved ? 'r' : a.expired ? 'x' : 'p';
}

function itemSig(item, approval, turn, last) {
  return `${item.rev}|${approvalSig(approval)}|${turn.status}|${last ? 1 : 0}`;
}

function TurnFooter({ turn }) {
  if (turn.status === 'running') return null;
  const u = turn.usage || {};
  const parts = [];
  parts.push(`${fmtInt(u.input_tokens)} in`);
  parts.push(`${fmtInt(u.output_tokens)} out`);
  if (u.cached_input_tokens) parts.push(`${fmtInt(u.cached_input_tokens)} cached`);
  const cost = formatCost(u.cost);
  if (cost) parts.push(cost);
  if (turn.duration_ms !== null && turn.duration_ms !== undefined) parts.push(formatDuration(turn.duration_ms));
  const notes = [];
  const stop = STOP_REASON[turn.stop_reason];
  if (turn.status === 'completed' && stop) notes.push({ code: turn.stop_reason, message: stop });
  for (const w of turn.warnings || []) notes.push(w);
  let failure = null;
  if (turn.status === 'failed') {
    const e = turn.error || {};
    failure = `Failed${e.code ? ` (${e.code})` : ''}: ${e.message || 'the turn failed'}`;
  } else if (turn.status === 'interrupted') {
    const why = turn.reason || (turn.error && turn.error.message) || '';
    failure = `Interrupted${why ? `: ${why}` : ''}`;
  }
  return html`<div class="turn-footer" data-testid="turn-footer">
    <span class="turn-usage" aria-label="usage">${parts.join(' · ')}</span>
    ${turn.stop_reason && turn.stop_reason !== 'end_turn'
      ? html`<span class="turn-stop"> · ${turn.stop_reason}</span>` : null}
    ${failure ? html`<div class=${'turn-failure turn-' + turn.status} role="note">${failure}</div>` : null}
    ${notes.map((w) => html`<div class="turn-warning" data-testid="turn-warning" data-code=${w.code}>
      <span aria-hidden="true">⚠ </span>${w.message || w.code}</div>`)}
  </div>`;
}

function Hooks({ hooks }) {
  if (!hooks || !hooks.length) return null;
  return html`<details class="turn-hooks">
    <summary>${hooks.length} hook${hooks.length === 1 ? '' : 's'} ran</summary>
    <ul>${hooks.map((h) => html`<li class=${h.error ? 'hook-error' : ''}>
      <code>${h.event}</code> ${h.command}${h.tool_name ? ` (${h.tool_name})` : ''} →
      ${h.decision || 'no decision'}${h.exit_code !== null && h.exit_code !== undefined ? ` · exit ${h.exit_code}` : ''}
      ${h.reason ? ` · ${h.reason}` : ''}${h.error ? ` · ${h.error}` : ''}</li>`)}</ul>
  </details>`;
}

function TurnView({ turn, items, approvalsByItem, canRewind, onRewind }) {
  const ids = turn.itemIds || [];
  const hasUser = ids.some((id) => items.get(id)?.type === 'user_message');
  const lastId = ids[ids.length - 1];
  const cls = 'turn' + (turn.status === 'running' ? ' turn-running' : ' turn-done')
    + (turn.rewound ? ' turn-rewound' : '');
  return html`<section class=${cls} data-testid="turn" data-turn-id=${turn.id}
      data-status=${turn.status} aria-label=${`turn: ${firstLine(turn.text, 60)}`}>
    ${turn.rewound ? html`<div class="turn-rewound-label">Rewound: no longer in the model's history</div>` : null}
    ${!hasUser && turn.text ? html`<div class="msg msg-user" data-testid="user-message">
      <div class="msg-text">${turn.text}</div></div>` : null}
    ${ids.map((id) => {
      const item = items.get(id);
      if (!item) return null;
      const approval = approvalsByItem.get(id);
      const last = id === lastId;
      return html`<${MemoItem} key=${id} item=${item} approval=${approval} turn=${turn} last=${last}
        sig=${itemSig(item, approval, turn, last)} />`;
    })}
    ${turn.status === 'running' && !ids.length ? html`<div class="turn-wait" role="status">Waiting for the model…</div>` : null}
    <${Hooks} hooks=${turn.hooks} />
    <div class="turn-end">
      <${TurnFooter} turn=${turn} />
      ${canRewind ? html`<button type="button" class="btn btn-small btn-quiet rewind-btn"
          data-testid="rewind-turn" onClick=${() => onRewind(turn)}
          aria-label=${`Rewind to before this turn: ${firstLine(turn.text, 60)}`}>Rewind…</button>` : null}
    </div>
  </section>`;
}

/** A turn, re-rendered only when its signature changes. */
class MemoTurn extends Component {
  shouldComponentUpdate(next) {
    return next.sig !== this.props.sig;
  }

  render(props) {
    return html`<${TurnView} ...${props} />`;
  }
}

function turnSig(turn, items, approvalsByItem, canRewind) {
  let s = `${turn.rev}|${turn.status}|${turn.rewound ? 1 : 0}|${canRewind ? 1 : 0}|${(turn.hooks || []).length}`;
  for (const id of turn.itemIds || []) {
    const item = items.get(id);
    s += `|${item ? item.rev : '-'}${approvalSig(approvalsByItem.get(id))}`;
  }
  return s;
}

/**
 * Every turn of a session, in order.
 *
 * @param {{state: object, client: object, readOnly: boolean, onRewind?: (turn: object) => void}} props
 *   `state` is a SessionState (js/state.js); `onRewind`, when given, is called by a turn's
 *   rewind control instead of opening the rewind dialog of changes.js.
 */
export function Transcript({ state, client, readOnly, onRewind }) {
  const [rewinding, setRewinding] = useState(null);
  const onRewindRef = useRef(onRewind);
  onRewindRef.current = onRewind;
  const startRewind = useCallback((turn) => {
    if (onRewindRef.current) onRewindRef.current(turn);
    else setRewinding(turn.id);
  }, []);

  const approvalsByItem = new Map();
  for (const a of state.approvals.values()) approvalsByItem.set(a.item_id, a);
  const items = state.items;
  const rewindTurn = rewinding ? state.turnsById.get(rewinding) : null;
  return html`<div class="transcript" data-testid="transcript" aria-label="transcript">
    ${state.turns.length === 0 ? html`<p class="transcript-empty">No messages yet.</p>` : null}
    ${state.turns.map((turn) => {
      const canRewind = !readOnly && !turn.rewound && turn.status !== 'running';
      return html`<${MemoTurn} key=${turn.id} turn=${turn} items=${items}
        approvalsByItem=${approvalsByItem} canRewind=${canRewind} onRewind=${startRewind}
        sig=${turnSig(turn, items, approvalsByItem, canRewind)} />`;
    })}
    ${rewindTurn ? html`<${RewindDialog} state=${state} client=${client} turn=${rewindTurn}
      onClose=${() => setRewinding(null)} />` : null}
  </div>`;
}

// A session's state, derived from its journal only (docs/protocol.md, "Subscriptions": a turn
// runs from turn.started until its terminal event; an approval is pending from
// approval.requested until its approval.resolved or the end of its turn). `apply` takes the
// events in seq order; every turn and item it changes gets a higher `rev`, which is what the
// views compare to skip re-rendering what did not change. Listeners are told at most once per
// animation frame, however many events arrived.

const TERMINAL = { 'turn.completed': 'completed', 'turn.failed': 'failed', 'turn.interrupted': 'interrupted' };

let revCounter = 0;
const nextRev = () => ++revCounter;

/**
 * The state of one session.
 *
 * Fields: `info` (SessionInfo), `lastSeq` (the last seq applied), `turns` (in order; each
 * {id, text, model, status: running|completed|failed|interrupted, itemIds, usage, duration_ms,
 * stop_reason, warnings, error, reason, rewound, hooks, started_at, rev}), `turnsById`, `items`
 * (id -> item as journaled, plus `rev` and `completed`), `approvals` (approval_id -> the
 * approval.requested event plus `resolved` (the approval.resolved event or null) and `expired`;
 * a subagent's copy carries `agent`), `agents` (subagent session id -> its latest subagent.updated
 * event plus `rev`: the tree of the session's subagents, in the order spawned), `checkpoints`
 * (checkpoint.created events), `rev` (changes with every applied frame).
 */
export class SessionState {
  constructor(info) {
    this.info = info;
    this.lastSeq = 0;
    this.turns = [];
    this.turnsById = new Map();
    this.items = new Map();
    this.approvals = new Map();
    this.agents = new Map();
    this.checkpoints = [];
    this.rev = 0;
    this.listeners = new Set();
    this.frame = 0;
  }

  /** Approvals still waiting for an answer, oldest first. */
  pendingApprovals() {
    return [...this.approvals.values()].filter((a) => !a.resolved && !a.expired);
  }

  /** The subagents still working (running or waiting for approval), in the order spawned. */
  runningAgents() {
    return [...this.agents.values()].filter((a) => a.status === 'running' || a.status === 'waiting_approval');
  }

  /** The running turn, or null. */
  runningTurn() {
    const last = this.turns[this.turns.length - 1];
    return last && last.status === 'running' ? last : null;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Tell the listeners, once per animation frame. */
  changed() {
    this.rev = nextRev();
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      for (const fn of this.listeners) fn(this);
    });
  }

  setInfo(info) {
    this.info = { ...this.info, ...info };
    this.changed();
  }

  turn(id, ev) {
    let t = this.turnsById.get(id);
    if (!t) {
      // An event of a turn whose turn.started this state never saw (e.g. a checkpoint
      // between turns): a placeholder, finished unless told otherwise.
      t = { id, text: '', model: null, status: 'completed', itemIds: [], usage: null, duration_ms: null,
        stop_reason: null, warnings: [], error: null, reason: null, rewound: false, hooks: [],
        started_at: ev ? ev.ts : null, rev: nextRev(), placeholder: true };
      this.turnsById.set(id, t);
      this.turns.push(t);
    }
    return t;
  }

  /** Apply events (in seq order); events at or below `lastSeq` are ignored. */
  apply(events) {
    let any = false;
    for (const ev of events) {
      if (ev.seq <= this.lastSeq) continue;
      this.lastSeq = ev.seq;
      this.applyOne(ev);
      any = true;
    }
    if (any) {
      if (this.info && this.lastSeq > (this.info.last_seq || 0)) this.info = { ...this.info, last_seq: this.lastSeq };
      this.changed();
    }
  }

  applyOne(ev) {
    switch (ev.type) {
      case 'turn.started': {
        const t = this.turnsById.get(ev.turn_id);
        if (t) {
          Object.assign(t, { text: ev.text, model: ev.model, status: 'running', placeholder: false, rev: nextRev() });
        } else {
          const turn = { id: ev.turn_id, text: ev.text, model: ev.model, status: 'running', itemIds: [], usage: null,
            duration_ms: null, stop_reason: null, warnings: [], error: null, reason: null, rewound: false, hooks: [],
            started_at: ev.ts, rev: nextRev() };
          this.turnsById.set(turn.id, turn);
          this.turns.push(turn);
        }
        this.info = { ...this.info, status: 'running' };
        break;
      }
      case 'item.started': {
        const t = this.turn(ev.turn_id, ev);
        const item = { ...ev.item, rev: nextRev(), completed: false };
        if (item.type === 'tool_call') item.argsText = '';
        if (!this.items.has(item.id)) t.itemIds.push(item.id);
        this.items.set(item.id, item);
        t.rev = nextRev();
        break;
      }
      case 'item.delta': {
        const item = this.items.get(ev.item_id);
        if (!item) break;
        if (item.type === 'tool_call') {
          item.argsText = (item.argsText || '') + ev.delta;
          try {
            const parsed = JSON.parse(item.argsText);
            if (parsed && typeof parsed === 'object') item.arguments = parsed;
          } catch { /* not whole yet */ }
        } else {
          item.text = (item.text || '') + ev.delta;
        }
        item.rev = nextRev();
        break;
      }
      case 'item.completed': {
        const t = this.turn(ev.turn_id, ev);
        const before = this.items.get(ev.item.id);
        if (!before) t.itemIds.push(ev.item.id);
        this.items.set(ev.item.id, { ...ev.item, agent: before && before.agent, rev: nextRev(), completed: true });
        t.rev = nextRev();
        break;
      }
      case 'approval.requested': {
        this.approvals.set(ev.approval_id, { ...ev, resolved: null, expired: false });
        const item = ev.agent ? null : this.items.get(ev.item_id);  // a subagent's item is in its own session
        if (item) {
          if (ev.arguments && typeof ev.arguments === 'object') item.arguments = ev.arguments;
          item.status = 'awaiting_approval';
          item.rev = nextRev();
        }
        break;
      }
      case 'approval.resolved': {
        const a = this.approvals.get(ev.approval_id);
        if (a) this.approvals.set(ev.approval_id, { ...a, resolved: ev, expired: false });
        const item = ev.agent ? null : this.items.get(ev.item_id);
        if (item && !item.completed) {
          item.status = ev.decision === 'deny' ? 'denied' : 'running';
          item.rev = nextRev();
        }
        break;
      }
      case 'turn.completed':
      case 'turn.failed':
      case 'turn.interrupted': {
        const t = this.turn(ev.turn_id, ev);
        Object.assign(t, {
          status: TERMINAL[ev.type], usage: ev.usage || null, duration_ms: ev.duration_ms ?? null,
          stop_reason: ev.stop_reason || null, warnings: ev.warnings || [], error: ev.error || null,
          reason: ev.reason || null, rev: nextRev(),
        });
        for (const [id, a] of this.approvals) {
          if (a.turn_id === t.id && !a.resolved && !a.expired) this.approvals.set(id, { ...a, expired: true });
        }
        for (const id of t.itemIds) {
          const item = this.items.get(id);
          if (item && !item.completed) item.rev = nextRev();
        }
        this.info = { ...this.info, status: 'idle' };
        break;
      }
      case 'subagent.updated': {
        this.agents.set(ev.agent.session_id, { ...ev, rev: nextRev() });
        const item = this.items.get(ev.item_id);  // the spawn_agent call shows its subagent's status
        if (item) { item.agent = ev; item.rev = nextRev(); }
        break;
      }
      case 'checkpoint.created':
        this.checkpoints.push({ ...ev });
        break;
      case 'checkpoint.restored':
        this.checkpoints.push({ ...ev, kind: 'restored' });
        break;
      case 'turn.rewound':
        if (ev.restore === 'conversation' || ev.restore === 'both') {
          for (const id of ev.rewound_turn_ids || []) {
            const t = this.turnsById.get(id);
            if (t) { t.rewound = true; t.rev = nextRev(); }
          }
        }
        break;
      case 'hook.ran': {
        const t = this.turn(ev.turn_id, ev);
        t.hooks = [...t.hooks, ev];
        t.rev = nextRev();
        break;
      }
      default:
        break;  // an event type this UI does not know: the journal may grow
    }
  }
}

// The protocol client: JSON-RPC 2.0 over one WebSocket to this server's /ws (docs/protocol.md).
// It reconnects by itself with exponential backoff and, on every reconnect, subscribes again to
// each followed session after the last `seq` that session's handler has seen, so a dropped
// connection loses no event and shows none twice. Calls made while the socket is down wait for
// it (up to CALL_WAIT_MS); a call in flight when it drops is rejected with code DISCONNECTED
// (a `turn/start` with a `clientMessageId` may be sent again safely: the server deduplicates).

export const PROTOCOL_VERSION = '1';
export const CLIENT_NAME = 'cowork-web';
export const CLIENT_VERSION = '1';

/** Error code of a call lost with its connection (not a JSON-RPC code: those are negative). */
export const DISCONNECTED = 1;
/** -32002: the token is missing or wrong; -32003: a read-only token tried to change something. */
export const AUTH_REQUIRED = -32002;
export const READ_ONLY = -32003;
export const METHOD_NOT_FOUND = -32601;

const TOKEN_KEY = 'cowork.token';
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 8000;
const CALL_WAIT_MS = 30000;
/** A socket not open and initialized within this long is dropped and tried again. */
const CONNECT_TIMEOUT_MS = 10000;

/** An error answer of the server (`code`, `message`, `data`), or DISCONNECTED. */
export class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

/** The token kept for this tab (session storage: gone when the tab closes; never in a URL). */
export function storedToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || null; } catch { return null; }
}

export function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lasts as long as the page */ }
}

function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

/**
 * One connection to the server, kept open.
 *
 * `status` is one of `connecting`, `open`, `reconnecting` (it was open and dropped: retrying),
 * `auth` (the server wants a token: call `setToken`), `failed` (the server refused this client's
 * protocol version). Listeners added with `onStatus` get `(status, client)` on each change.
 * `capabilities` is the last `initialize` answer's (`readOnly`, `methods`, ...), null until the
 * first connection succeeds.
 */
export class Client {
  constructor({ url = wsUrl(), WebSocketImpl = WebSocket } = {}) {
    this.url = url;
    this.WebSocketImpl = WebSocketImpl;
    this.status = 'connecting';
    this.capabilities = null;
    this.serverInfo = null;
    this.lastError = null;
    this.token = storedToken();
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map();      // id -> {resolve, reject, method}
    this.waiting = [];             // calls made while not open: {run, reject, timer}
    this.subs = new Map();         // sessionId -> {afterSeq: () => number, onEvents, onResumed}
    this.runWatch = null;          // followRuns: {params, onRuns, onRun, onError}
    this.statusListeners = new Set();
    this.ws = null;
    this.readyWs = null;           // the socket whose initialize succeeded
    this.timer = null;
    this.closed = false;
    this.onVisible = () => { if (document.visibilityState === 'visible' && this.status === 'reconnecting') this.retryNow(); };
    document.addEventListener('visibilitychange', this.onVisible);
    this.connect();
  }

  /** @returns {boolean} true when connected with a read-only token */
  get readOnly() {
    return !!(this.capabilities && this.capabilities.readOnly);
  }

  /** True when the server answers `method` (its `initialize` listed it). */
  offers(method) {
    return !!(this.capabilities && (this.capabilities.methods || []).includes(method));
  }

  onStatus(fn) {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    for (const fn of this.statusListeners) fn(status, this);
  }

  /** Use `token` (kept in session storage) and connect again with it. */
  setToken(token) {
    this.token = token || null;
    storeToken(this.token);
    this.retryNow();
  }

  retryNow() {
    clearTimeout(this.timer);
    this.attempt = 0;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close();
      this.dropInFlight();
    }
    this.connect();
  }

  connect() {
    if (this.closed) return;
    let ws;
    try {
      ws = new this.WebSocketImpl(this.url);
    } catch (e) {
      this.lastError = String(e);
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    const guard = setTimeout(() => {
      if (ws !== this.ws || this.readyWs === ws) return;
      ws.close();  // a handshake or an initialize that never ends: onclose reconnects
    }, CONNECT_TIMEOUT_MS);
    ws.onopen = () => this.initialize(ws).finally(() => clearTimeout(guard));
    ws.onmessage = (e) => { if (ws === this.ws) this.receive(e.data); };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.ws = null;  // `capabilities` stay: the views keep what they showed while reconnecting
      this.dropInFlight();
      if (this.status === 'auth' || this.status === 'failed') return;
      this.lastError = e.code === 1006 ? 'the connection dropped' : `closed (${e.code}${e.reason ? ': ' + e.reason : ''})`;
      this.scheduleReconnect();
    };
  }

  scheduleReconnect() {
    if (this.closed) return;
    if (this.status === 'open' || this.status === 'reconnecting') this.setStatus('reconnecting');
    else this.setStatus('connecting');
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    this.attempt += 1;
    const delay = base / 2 + Math.random() * (base / 2);  // "equal jitter"
    this.retryAt = Date.now() + delay;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  dropInFlight() {
    const lost = [...this.pending.values()];
    this.pending.clear();
    for (const p of lost) p.reject(new RpcError(DISCONNECTED, `the connection dropped before ${p.method} was answered`));
  }

  async initialize(ws) {
    const params = {
      protocolVersion: PROTOCOL_VERSION,
      clientInfo: { name: CLIENT_NAME, version: CLIENT_VERSION },
      capabilities: { eventBatches: true },
    };
    if (this.token) params.authToken = this.token;
    let result;
    try {
      result = await this.send(ws, 'initialize', params);
    } catch (e) {
      if (ws !== this.ws) return;
      this.lastError = e.message;
      if (e.code === AUTH_REQUIRED) {
        this.setStatus('auth');
        ws.onclose = null;
        this.ws = null;
        ws.close();
      } else if (e.code === -32602) {
        this.setStatus('failed');
      }
      return;
    }
    if (ws !== this.ws) return;
    this.readyWs = ws;
    this.capabilities = result.capabilities || {};
    this.serverInfo = result.serverInfo || null;
    this.attempt = 0;
    this.lastError = null;
    // Subscriptions first (their replays start after each handler's last seq), then queued calls.
    for (const [sessionId, sub] of this.subs) this.resubscribe(sessionId, sub);
    if (this.runWatch) this.watchRuns(this.runWatch);
    this.setStatus('open');
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) { clearTimeout(w.timer); w.run(); }
  }

  resubscribe(sessionId, sub) {
    const afterSeq = sub.afterSeq();
    this.send(this.ws, 'session/subscribe', { sessionId, afterSeq })
      .then((r) => { if (this.subs.get(sessionId) === sub && sub.onSubscribed) sub.onSubscribed(r.lastSeq, afterSeq); })
      .catch((e) => { if (this.subs.get(sessionId) === sub && sub.onError) sub.onError(e); });
  }

  send(ws, method, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      const frame = { jsonrpc: '2.0', id, method };
      if (params !== undefined) frame.params = params;
      try {
        ws.send(JSON.stringify(frame));
      } catch (e) {
        this.pending.delete(id);
        reject(new RpcError(DISCONNECTED, `could not send ${method}: ${e}`));
      }
    });
  }

  /**
   * Call `method` with `params`; resolves with its result, rejects with an RpcError.
   * While the connection is down the call waits for it, up to 30 s.
   */
  call(method, params) {
    if (this.status === 'open' && this.ws) return this.send(this.ws, method, params);
    return new Promise((resolve, reject) => {
      const w = {
        run: () => this.send(this.ws, method, params).then(resolve, reject),
        reject,
        timer: setTimeout(() => {
          this.waiting = this.waiting.filter((x) => x !== w);
          reject(new RpcError(DISCONNECTED, `not connected to the server: ${method} was not sent`));
        }, CALL_WAIT_MS),
      };
      this.waiting.push(w);
    });
  }

  /**
   * Follow a session's events. `afterSeq()` returns the last seq already handled (read on every
   * (re)subscribe); `onEvents(events)` gets each frame's events of this session in seq order,
   * those at or below afterSeq() already dropped; `onSubscribed(lastSeq, afterSeq)` is called
   * when a (re)subscription is answered. Returns a function that stops following.
   */
  follow(sessionId, { afterSeq, onEvents, onSubscribed, onError }) {
    const sub = { afterSeq, onEvents, onSubscribed, onError };
    this.subs.set(sessionId, sub);
    if (this.status === 'open' && this.ws) this.resubscribe(sessionId, sub);
    return () => {
      if (this.subs.get(sessionId) !== sub) return;
      this.subs.delete(sessionId);
      if (this.status === 'open' && this.ws) this.send(this.ws, 'session/unsubscribe', { sessionId }).catch(() => {});
    };
  }

  /**
   * Follow the runs (`run/subscribe`): `onRuns(runs)` gets the newest runs at every
   * (re)subscribe, `onRun(run)` each run that changed after it (`run.updated`), `onError(e)` a
   * refused subscription. One per client: a new one replaces the last. Returns a function that
   * stops following.
   */
  followRuns(params, { onRuns, onRun, onError }) {
    const watch = { params, onRuns, onRun, onError };
    this.runWatch = watch;
    if (this.status === 'open' && this.ws) this.watchRuns(watch);
    return () => {
      if (this.runWatch !== watch) return;
      this.runWatch = null;
      if (this.status === 'open' && this.ws) this.send(this.ws, 'run/unsubscribe', {}).catch(() => {});
    };
  }

  watchRuns(watch) {
    this.send(this.ws, 'run/subscribe', watch.params)
      .then((r) => { if (this.runWatch === watch) watch.onRuns(r.runs); })
      .catch((e) => { if (this.runWatch === watch && watch.onError) watch.onError(e); });
  }

  receive(data) {
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    const frames = Array.isArray(msg) ? msg : [msg];
    const events = new Map();  // sessionId -> events of this frame
    for (const f of frames) {
      if (!f || typeof f !== 'object') continue;
      if (f.method === 'event' && f.params) {
        const sid = f.params.session_id;
        if (!events.has(sid)) events.set(sid, []);
        events.get(sid).push(f.params);
      } else if (f.method === 'run.updated' && f.params && f.params.run) {
        if (this.runWatch) this.runWatch.onRun(f.params.run);
      } else if (f.id !== undefined && f.id !== null && this.pending.has(f.id)) {
        const p = this.pending.get(f.id);
        this.pending.delete(f.id);
        if (f.error) p.reject(new RpcError(f.error.code, f.error.message, f.error.data));
        else p.resolve(f.result);
      }
    }
    for (const [sid, list] of events) {
      const sub = this.subs.get(sid);
      if (!sub) continue;
      const after = sub.afterSeq();
      const fresh = list.filter((e) => e.seq > after);
      if (fresh.length) sub.onEvents(fresh);
    }
  }

  /** Drop the socket as a network failure would (tests and the "reconnect" control use it). */
  dropConnection() {
    if (this.ws) this.ws.close(4000, 'dropped by the client');
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    document.removeEventListener('visibilitychange', this.onVisible);
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
    this.dropInFlight();
  }
}

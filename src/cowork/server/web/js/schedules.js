// The sidebar's schedules (docs/automation.md, "Schedules"): what each does, when it fires next,
// paused or not; pause, resume and "run now" for a full token. Asked again every few seconds
// while the page is visible (`schedule/list`), and at once when a schedule's run changes (`tick`).
// `/schedules/new` is the form that creates one (`schedule/create`).

import { html, useState, useEffect, useCallback } from '../vendor/preact.js';
import { navigate } from './router.js';

const REFRESH_MS = 10000;

const errorText = (e) => (e && e.message) || String(e);

function when(ts) {
  const t = new Date(ts);
  return Number.isNaN(t.getTime()) ? '' : t.toLocaleString(undefined, {
    weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

/**
 * `call(method, params)` now and every `everyMs` while the page is visible and `connected`:
 * `[result, error, setError, reload]` (result null until the first answer).
 */
function usePolled(client, connected, method, params, everyMs) {
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const key = JSON.stringify(params);
  const load = useCallback(async () => {
    try {
      setResult(await client.call(method, JSON.parse(key)));
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }, [client, method, key]);
  useEffect(() => {
    if (!connected) return undefined;
    load();
    const timer = setInterval(() => { if (document.visibilityState === 'visible') load(); }, everyMs);
    return () => clearInterval(timer);
  }, [load, connected, everyMs]);
  return [result, error, setError, load];
}

/**
 * The sidebar list of schedules; hidden while there are none.
 *
 * @param {{client: object, connected: boolean, tick?: number}} props
 */
export function ScheduleList({ client, connected, tick = 0 }) {
  const [listed, error, setError, load] = usePolled(client, connected, 'schedule/list', {}, REFRESH_MS);
  useEffect(() => { if (tick) load(); }, [tick, load]);
  const schedules = listed && listed.schedules;
  const [note, setNote] = useState(null);
  const act = async (method, params, said) => {
    try {
      const r = await client.call(method, params);
      setNote(said(r));
    } catch (e) {
      setError(errorText(e));
    }
    load();
  };
  if (!schedules || (!schedules.length && !error)) return null;
  return html`<section class="run-list" aria-labelledby="schedules-title" data-testid="schedule-list">
    <h2 class="list-title" id="schedules-title">Schedules${client.readOnly ? null : html` <a href="/schedules/new"
      class="btn btn-small btn-quiet" data-testid="schedule-new" aria-label="New schedule"
      onClick=${(e) => { e.preventDefault(); navigate('/schedules/new'); }}>+</a>`}</h2>
    ${error ? html`<p class="form-error" role="alert">${error}</p>` : null}
    ${note ? html`<p class="muted" role="status" data-testid="schedule-note">${note}</p>` : null}
    <ul class="sessions">
      ${schedules.map((s) => html`<li key=${s.id} class="run-item" data-testid="schedule-item" data-schedule-id=${s.id}
          data-enabled=${s.enabled ? 'true' : 'false'}>
        <div class="session-link">
          <span class="session-title" title=${s.prompt}>${s.prompt}</span>
          <span class="session-meta">${s.description}</span>
          <span class="session-meta" data-testid="schedule-next">${!s.enabled ? 'paused'
            : s.next_fires.length ? 'next: ' + when(s.next_fires[0]) : 'done'}</span>
        </div>
        ${client.readOnly ? null : html`<div class="schedule-actions">
          <button type="button" class="btn btn-small btn-quiet" data-testid="schedule-toggle"
            aria-label=${(s.enabled ? 'Pause' : 'Resume') + ' the schedule: ' + s.prompt}
            onClick=${() => act('schedule/update', { scheduleId: s.id, enabled: !s.enabled },
              () => (s.enabled ? 'Paused.' : 'Resumed.'))}>${s.enabled ? 'Pause' : 'Resume'}</button>
          <button type="button" class="btn btn-small btn-quiet" data-testid="schedule-run"
            aria-label=${'Run now: ' + s.prompt}
            onClick=${() => act('schedule/run', { scheduleId: s.id }, (r) => `Queued run ${r.run.id.slice(0, 12)}.`)}>Run now</button>
        </div>`}
      </li>`)}
    </ul>
  </section>`;
}

const EVERY_UNITS = [['60', 'minutes'], ['3600', 'hours'], ['86400', 'days']];

function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
}

/**
 * The trigger of the form's fields: `{cron, timezone}`, `{every}` (seconds) or `{at}` (RFC 3339,
 * from the browser's local time). Throws an Error a person can read for a value that is missing.
 */
export function triggerOf(kind, { cron, timezone, every, unit, at }) {
  if (kind === 'cron') return { cron: cron.trim(), timezone: timezone.trim() || 'UTC' };
  if (kind === 'every') {
    const n = Number(every);
    if (!(n > 0)) throw new Error('"every" needs a number greater than 0');
    return { every: n * Number(unit) };
  }
  const t = new Date(at);
  if (!at || Number.isNaN(t.getTime())) throw new Error('pick the date and time it runs at');
  return { at: t.toISOString() };
}

/**
 * The "new schedule" page: the workspace, what each run is asked, when it fires (a cron
 * expression in a time zone, every N minutes/hours/days, or once at a time), and the run
 * policies (approvals, missed fires, overlap, session). The server checks everything and its
 * error is shown as it says it; once created, the schedule's description and next fire times.
 */
export function NewSchedule({ client, onCreated }) {
  const [workspace, setWorkspace] = useState(() => localStorage.getItem('cowork.workspace') || '');
  const [prompt, setPrompt] = useState('');
  const [kind, setKind] = useState('cron');
  const [cron, setCron] = useState('0 9 * * 1-5');
  const [timezone, setTimezone] = useState(browserZone);
  const [every, setEvery] = useState('60');
  const [unit, setUnit] = useState('60');
  const [at, setAt] = useState('');
  const [approvals, setApprovals] = useState('wait');
  const [missed, setMissed] = useState('once');
  const [overlap, setOverlap] = useState('skip');
  const [session, setSession] = useState('new');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [made, setMade] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    let trigger;
    try {
      trigger = triggerOf(kind, { cron, timezone, every, unit, at });
    } catch (err) {
      setError(err.message);
      return;
    }
    setBusy(true);
    try {
      const r = await client.call('schedule/create', {
        workspace: workspace.trim(), prompt, trigger, approvals, missed, overlap, session,
      });
      try { localStorage.setItem('cowork.workspace', workspace.trim()); } catch { /* private mode */ }
      setMade(r.schedule);
      if (onCreated) onCreated(r.schedule);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const field = (set) => (e) => set(e.currentTarget.value);
  if (made) {
    return html`<main class="page page-form" aria-labelledby="ns-made">
      <h1 id="ns-made">Schedule created</h1>
      <p data-testid="schedule-made" data-schedule-id=${made.id}>${made.description}</p>
      <p>Next fire times:</p>
      <ul data-testid="schedule-made-next">${made.next_fires.map((t) => html`<li key=${t}>${when(t)}</li>`)}</ul>
      <div class="form-actions">
        <button type="button" class="btn" onClick=${() => { setMade(null); setPrompt(''); }}>Another</button>
        <a href="/" class="btn btn-quiet" onClick=${(e) => { e.preventDefault(); navigate('/'); }}>Done</a>
      </div>
    </main>`;
  }
  return html`<main class="page page-form" aria-labelledby="nsch-title">
    <h1 id="nsch-title">New schedule</h1>
    <form class="form" onSubmit=${submit} data-testid="new-schedule-form">
      <label for="nsch-workspace">Workspace folder (absolute path on the server's machine)</label>
      <input id="nsch-workspace" data-testid="schedule-workspace" required value=${workspace} placeholder="/home/you/project"
        autocomplete="off" spellcheck="false" onInput=${field(setWorkspace)} />
      <label for="nsch-prompt">What each run is asked to do (may use {{today}}, {{prev_run}}…)</label>
      <textarea id="nsch-prompt" data-testid="schedule-prompt" required rows="4" value=${prompt}
        onInput=${field(setPrompt)}></textarea>
      <label for="nsch-kind">When</label>
      <select id="nsch-kind" data-testid="schedule-kind" value=${kind} onChange=${field(setKind)}>
        <option value="cron">on a cron schedule</option>
        <option value="every">every …</option>
        <option value="at">once, at a time</option>
      </select>
      ${kind === 'cron' ? html`
        <label for="nsch-cron">Cron expression (minute hour day month weekday)</label>
        <input id="nsch-cron" data-testid="schedule-cron" value=${cron} spellcheck="false" onInput=${field(setCron)} />
        <label for="nsch-tz">Time zone (IANA)</label>
        <input id="nsch-tz" data-testid="schedule-timezone" value=${timezone} spellcheck="false" onInput=${field(setTimezone)} />`
      : kind === 'every' ? html`
        <label for="nsch-every">Every</label>
        <div class="row">
          <input id="nsch-every" data-testid="schedule-every" type="number" min="1" value=${every} onInput=${field(setEvery)} />
          <select aria-label="unit" data-testid="schedule-unit" value=${unit} onChange=${field(setUnit)}>
            ${EVERY_UNITS.map(([v, label]) => html`<option value=${v}>${label}</option>`)}
          </select>
        </div>`
      : html`
        <label for="nsch-at">At (your local time)</label>
        <input id="nsch-at" data-testid="schedule-at" type="datetime-local" value=${at} onInput=${field(setAt)} />`}
      <label for="nsch-approvals">A tool call that needs a person</label>
      <select id="nsch-approvals" data-testid="schedule-approvals" value=${approvals} onChange=${field(setApprovals)}>
        <option value="wait">waits for someone (30 min), then is denied</option>
        <option value="deny">is denied at once</option>
      </select>
      <label for="nsch-missed">Fires missed while no server ran</label>
      <select id="nsch-missed" data-testid="schedule-missed" value=${missed} onChange=${field(setMissed)}>
        <option value="once">run once</option>
        <option value="skip">skip (recorded)</option>
        <option value="each">run each (at most 10)</option>
      </select>
      <label for="nsch-overlap">A fire while the previous run still goes</label>
      <select id="nsch-overlap" data-testid="schedule-overlap" value=${overlap} onChange=${field(setOverlap)}>
        <option value="skip">skip it</option>
        <option value="queue">queue it</option>
        <option value="cancel">cancel the previous run</option>
      </select>
      <label for="nsch-session">Runs</label>
      <select id="nsch-session" data-testid="schedule-session" value=${session} onChange=${field(setSession)}>
        <option value="new">each in a new session</option>
        <option value="continue">all in one session</option>
      </select>
      ${error ? html`<p class="form-error" role="alert" data-testid="schedule-error">${error}</p>` : null}
      <div class="form-actions">
        <button type="submit" class="btn btn-primary" data-testid="schedule-create" disabled=${busy}>${busy ? 'Creating…' : 'Create'}</button>
      </div>
    </form>
  </main>`;
}

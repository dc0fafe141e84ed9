// The sidebar's schedules (docs/automation.md, "Schedules"): what each does, when it fires next,
// paused or not; pause, resume and "run now" for a full token. Asked again every few seconds
// while the page is visible (`schedule/list`), and at once when a schedule's run changes (`tick`).

import { html, useState, useEffect, useCallback } from '../vendor/preact.js';

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
    <h2 class="list-title" id="schedules-title">Schedules</h2>
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

// The sidebar's runs: turns started without a person (`cowork run --background`, `run/submit`;
// docs/automation.md), newest first, with their state. A run waiting for an approval links to its
// session, where the approval card is; queued and running runs can be cancelled. Asked again
// every few seconds while the page is visible (`run/list`), like the session list.

import { html, useState, useEffect, useCallback } from '../vendor/preact.js';
import { navigate } from './router.js';
import { relativeTime } from './sessions.js';

const LIMIT = 20;
const REFRESH_MS = 4000;
const ACTIVE = new Set(['queued', 'running', 'waiting_for_approval']);
const STATE_LABEL = { waiting_for_approval: 'waiting for you' };
const STATE_CLASS = {
  waiting_for_approval: 'badge-wait', running: 'badge-run', failed: 'badge-warn', interrupted: 'badge-warn',
  cancelled: 'badge-warn',
};

const errorText = (e) => (e && e.message) || String(e);

/**
 * `call(method, params)` now and every `everyMs` while the page is visible and `connected`:
 * `[result, error, setError, reload]` (result null until the first answer). The sidebar's run
 * and schedule lists share it.
 */
export function usePolled(client, connected, method, params, everyMs) {
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
 * The sidebar list of runs; hidden while there are none.
 *
 * @param {{client: object, connected: boolean}} props
 */
export function RunList({ client, connected }) {
  const [listed, error, setError, load] = usePolled(client, connected, 'run/list', { limit: LIMIT }, REFRESH_MS);
  const runs = listed && listed.runs;
  const cancel = async (run) => {
    try {
      await client.call('run/cancel', { runId: run.id });
    } catch (e) {
      setError(errorText(e));
    }
    load();
  };
  if (!runs || (!runs.length && !error)) return null;
  return html`<section class="run-list" aria-labelledby="runs-title" data-testid="run-list">
    <h2 class="list-title" id="runs-title">Runs</h2>
    ${error ? html`<p class="form-error" role="alert">${error}</p>` : null}
    <ul class="sessions">
      ${runs.map((run) => html`<li key=${run.id} class="run-item" data-testid="run-item" data-run-id=${run.id}
          data-state=${run.state}>
        <a href=${'/sessions/' + encodeURIComponent(run.session_id)} class="session-link"
            onClick=${(e) => { if (e.button === 0 && !e.metaKey && !e.ctrlKey) { e.preventDefault(); navigate('/sessions/' + encodeURIComponent(run.session_id)); } }}>
          <span class="session-title">${run.prompt}</span>
          <span class="session-meta">${run.reason} · ${relativeTime(run.ended_at || run.started_at || run.created_at)}</span>
          <span class=${'badge ' + (STATE_CLASS[run.state] || '')} data-testid="run-state">${STATE_LABEL[run.state] || run.state}</span>
        </a>
        ${ACTIVE.has(run.state) && !client.readOnly ? html`<button type="button" class="btn btn-small btn-quiet"
          data-testid="run-cancel" aria-label=${'Cancel the run: ' + run.prompt} onClick=${() => cancel(run)}>Cancel</button>` : null}
      </li>`)}
    </ul>
  </section>`;
}

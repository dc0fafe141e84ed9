// The sidebar's runs: turns started without a person (`cowork run --background`, `run/submit`;
// docs/automation.md), newest first, with their state. A run waiting for an approval links to its
// session, where the approval card is; queued and running runs can be cancelled. The list follows
// `run/subscribe`: the newest runs at every (re)connection, then each change (`run.updated`) as
// it happens, on every server of the store.

import { html, useState, useEffect, useRef } from '../vendor/preact.js';
import { navigate } from './router.js';
import { relativeTime } from './sessions.js';

const LIMIT = 20;
const ACTIVE = new Set(['queued', 'running', 'waiting_for_approval']);
const STATE_LABEL = { waiting_for_approval: 'waiting for you' };
const STATE_CLASS = {
  waiting_for_approval: 'badge-wait', running: 'badge-run', failed: 'badge-warn', interrupted: 'badge-warn',
  cancelled: 'badge-warn',
};

const errorText = (e) => (e && e.message) || String(e);

/** Of two copies of a run, the newer (`updated_at`, RFC 3339 UTC: compared as dates). */
function newer(a, b) {
  if (!a) return b;
  return Date.parse(b.updated_at || 0) >= Date.parse(a.updated_at || 0) ? b : a;
}

/**
 * The newest runs (at most LIMIT, newest first), kept up to date by `run/subscribe`; null until
 * the first answer. `onRun(run)` is told each change (the schedules list reloads on a fired run).
 */
function useRuns(client, connected, onRun) {
  const [runs, setRuns] = useState(null);
  const told = useRef(onRun);
  told.current = onRun;
  useEffect(() => {
    if (!connected) return undefined;
    return client.followRuns({ limit: LIMIT }, {
      onRuns: (listed) => setRuns(listed),
      onRun: (run) => {
        setRuns((old) => {
          const list = old || [];
          const at = list.findIndex((r) => r.id === run.id);
          if (at >= 0) return list.map((r, i) => (i === at ? newer(r, run) : r));
          return [run, ...list].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at)).slice(0, LIMIT);
        });
        if (told.current) told.current(run);
      },
      onError: () => setRuns((old) => old || []),
    });
  }, [client, connected]);
  return runs;
}

/**
 * The sidebar list of runs; hidden while there are none.
 *
 * @param {{client: object, connected: boolean, onRun?: function}} props
 */
export function RunList({ client, connected, onRun }) {
  const runs = useRuns(client, connected, onRun);
  const [error, setError] = useState(null);
  const cancel = async (run) => {
    try {
      await client.call('run/cancel', { runId: run.id });
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
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

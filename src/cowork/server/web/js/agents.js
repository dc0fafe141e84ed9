// The tree of a session's subagents (docs/subagents.md): one row per subagent its turns started,
// with its status (working, waiting for approval, done, failed, interrupted) and a link to its own
// session, drawn from the subagent.updated events of the session's journal (js/state.js).

import { html } from '../vendor/preact.js';
import { AgentRow } from './transcript.js';

/**
 * The session's subagents, shown while any works (and the last turn's once they ended).
 *
 * @param {{state: object}} props `state` is a SessionState
 */
export function AgentTree({ state }) {
  const agents = [...state.agents.values()];
  if (!agents.length) return null;
  const last = state.turns[state.turns.length - 1];
  const shown = agents.filter((a) => a.turn_id === (last && last.id) || a.status === 'running' || a.status === 'waiting_approval');
  if (!shown.length) return null;
  const working = shown.filter((a) => a.status === 'running' || a.status === 'waiting_approval').length;
  return html`<section class="agent-tree" data-testid="agent-tree" aria-label="subagents">
    <h3 class="agent-tree-title">Subagents${working ? ` · ${working} working` : ''}</h3>
    ${shown.map((a) => html`<${AgentRow} key=${a.agent.session_id} agent=${a} />`)}
  </section>`;
}

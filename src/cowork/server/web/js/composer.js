// The composer: sends a message (turn/start), steers a running turn with it (turn/steer) and
// interrupts the turn (turn/interrupt). Enter sends, Shift+Enter adds a line, Escape
// interrupts, Tab completes a slash command. `/NAME REQUEST` naming a skill or an MCP prompt is
// expanded first (context.js). Every turn/start carries a clientMessageId, so a send lost with a
// dropped connection is sent again on reconnect without starting the turn twice.

import { html, useState, useRef, useEffect } from '../vendor/preact.js';
import { DISCONNECTED } from './rpc.js';
import { expandSlash } from './context.js';

/** Matching slash commands shown under the composer, at most. */
const SUGGESTIONS = 8;

const errorText = (e) => (e && e.message) || String(e);

function newMessageId() {
  return crypto.randomUUID ? crypto.randomUUID()
    : `msg-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * @param {{client: object, state: object, running: boolean, readOnly: boolean,
 *   commands?: Array<{command: string, kind: string, description: string}>}} props `commands`:
 *   the slash commands (context.js slashCommands()); a `cowork:composer-insert` window event
 *   with a string `detail` replaces the text (the context panel's "Use").
 */
export function Composer({ client, state, running, readOnly, commands = [] }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const ref = useRef(null);
  const sessionId = state.info.id;

  useEffect(() => {
    const focus = () => { if (ref.current) ref.current.focus(); };
    const insert = (e) => { setText(String(e.detail || '')); setTimeout(focus, 0); };
    window.addEventListener('cowork:focus-composer', focus);
    window.addEventListener('cowork:composer-insert', insert);
    return () => {
      window.removeEventListener('cowork:focus-composer', focus);
      window.removeEventListener('cowork:composer-insert', insert);
    };
  }, []);

  if (readOnly) {
    return html`<div class="composer composer-readonly muted" data-testid="composer-readonly">
      Read-only view: this token cannot send messages or answer approvals.</div>`;
  }

  const send = async () => {
    const message = text.trim();
    if (!message || busy) return;
    setBusy(true);
    setError(null);
    try {
      const expanded = message.startsWith('/')
        ? await expandSlash(client, sessionId, state.info.workspace, message, commands) : null;
      const input = [{ type: 'text', text: expanded || message }];
      if (running) {
        await client.call('turn/steer', { sessionId, input });
      } else {
        const params = { sessionId, input, clientMessageId: newMessageId() };
        try {
          await client.call('turn/start', params);
        } catch (e) {
          if (e.code !== DISCONNECTED) throw e;
          await client.call('turn/start', params);  // the same id: started once at most
        }
      }
      setText('');
    } catch (e) {
      setError(e.code === -32011 ? 'The turn ended before the message reached it: send it again to start a new turn.' : errorText(e));
    } finally {
      setBusy(false);
      if (ref.current) ref.current.focus();
    }
  };

  const interrupt = async () => {
    setError(null);
    try {
      await client.call('turn/interrupt', { sessionId });
    } catch (e) {
      setError(errorText(e));
    }
  };

  const word = /^\/(\S*)$/.exec(text);
  const matches = word ? commands.filter((c) => c.command.startsWith(word[1])).slice(0, SUGGESTIONS) : [];

  const onKeyDown = (e) => {
    if (e.key === 'Tab' && matches.length && !e.shiftKey) {
      e.preventDefault();
      setText(`/${matches[0].command} `);
    } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === 'Escape' && running) {
      e.preventDefault();
      interrupt();
    }
  };

  return html`<form class="composer" data-testid="composer" onSubmit=${(e) => { e.preventDefault(); send(); }}>
    <label class="sr-only" for="composer-input">${running ? 'Message to steer the running turn' : 'Message'}</label>
    <textarea id="composer-input" ref=${ref} data-testid="composer-input" rows="3" value=${text}
      placeholder=${running ? 'Steer the running turn… (Enter sends, Esc interrupts)' : 'Ask cowork… (Enter sends, Shift+Enter for a new line)'}
      aria-keyshortcuts="Enter Escape" onInput=${(e) => setText(e.currentTarget.value)} onKeyDown=${onKeyDown}
      aria-describedby=${matches.length ? 'slash-suggestions' : null}></textarea>
    ${matches.length ? html`<ul id="slash-suggestions" class="slash-suggestions" data-testid="slash-suggestions"
        aria-label="commands (Tab completes the first)">
      ${matches.map((c) => html`<li><button type="button" class="btn btn-quiet btn-small"
          onClick=${() => { setText(`/${c.command} `); if (ref.current) ref.current.focus(); }}>
        <code>/${c.command}</code> <span class="badge">${c.kind}</span> <span class="muted">${c.description}</span></button></li>`)}
    </ul>` : null}
    <div class="composer-actions">
      ${error ? html`<p class="form-error" role="alert" data-testid="composer-error">${error}</p>` : null}
      ${running ? html`<button type="button" class="btn btn-danger" data-testid="interrupt" onClick=${interrupt}
        aria-keyshortcuts="Escape" title="Interrupt (Esc)">Interrupt</button>` : null}
      <button type="submit" class="btn btn-primary" data-testid="send" disabled=${busy || !text.trim()}
        title="Send (Enter)">${running ? 'Steer' : 'Send'}</button>
    </div>
  </form>`;
}

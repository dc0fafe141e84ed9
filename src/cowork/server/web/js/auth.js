// The token prompt: shown when the server wants a token (a server bound beyond loopback, or a
// token that stopped being valid). The token is kept in this tab's session storage, never in a
// URL, and sent in `initialize` (docs/protocol.md, "Authentication").

import { html, useState } from '../vendor/preact.js';

/** @param {{client: object}} props */
export function TokenPrompt({ client }) {
  const [token, setToken] = useState('');
  const wrong = !!client.token;
  const submit = (e) => {
    e.preventDefault();
    if (token.trim()) client.setToken(token.trim());
  };
  return html`<main class="page page-form" aria-labelledby="token-title" data-testid="token-prompt">
    <h1 id="token-title">This server needs a token</h1>
    <p>${wrong ? 'The token this tab held was refused. ' : ''}Paste the token <code>cowork serve</code> printed
      (also in <code>$COWORK_HOME/server-token</code>, or <code>server-token-read-only</code> for a read-only view).
      It stays in this tab only.</p>
    <form class="form" onSubmit=${submit}>
      <label for="token-input">Token</label>
      <input id="token-input" type="password" autocomplete="off" spellcheck="false" data-testid="token-input"
        value=${token} onInput=${(e) => setToken(e.currentTarget.value)} autofocus />
      ${client.lastError && wrong ? html`<p class="form-error" role="alert">${client.lastError}</p>` : null}
      <div class="form-actions"><button type="submit" class="btn btn-primary" data-testid="token-submit">Connect</button></div>
    </form>
  </main>`;
}

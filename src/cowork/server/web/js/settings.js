// Settings: the models and whether each can be used (`models/list`), the providers' API keys
// (`keys/list`, `keys/set`, `keys/remove`: a key is sent once and never
// shown back), the server's health (`server/status`: sandbox, store, the local doctor checks),
// browser notifications and this tab's token.

import { html, useState, useEffect, useCallback } from '../vendor/preact.js';
import { METHOD_NOT_FOUND, storeToken } from './rpc.js';
import { askNotificationPermission, notificationPermission } from './notify.js';

const errorText = (e) => (e && e.message) || String(e);

function useCall(client, method, params, deps) {
  const [value, setValue] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(() => {
    client.call(method, params).then((r) => { setValue(r); setError(null); }).catch(setError);
  }, deps);
  useEffect(load, [load]);
  return [value, error, load];
}

function Unavailable({ error, what }) {
  if (!error) return null;
  if (error.code === METHOD_NOT_FOUND) return html`<p class="muted">This server does not offer ${what}.</p>`;
  return html`<p class="form-error" role="alert">${errorText(error)}</p>`;
}

function Models({ client }) {
  const [r, error] = useCall(client, 'models/list', undefined, [client]);
  return html`<section class="card" aria-labelledby="models-h" data-testid="settings-models">
    <h2 id="models-h">Models</h2>
    <${Unavailable} error=${error} what="a model list" />
    ${r ? html`<table class="table">
      <thead><tr><th scope="col">Model</th><th scope="col">Usable</th><th scope="col">Detail</th></tr></thead>
      <tbody>${r.models.map((m) => html`<tr data-testid="model-row" data-model=${m.model}>
        <td><code>${m.model}</code>${m.default ? html` <span class="badge">default</span>` : null}</td>
        <td>${m.usable ? html`<span class="ok">yes</span>` : html`<span class="warn">no</span>`}</td>
        <td>${m.detail}</td></tr>`)}</tbody>
    </table>` : error ? null : html`<p class="muted">Loading…</p>`}
  </section>`;
}

function KeyForm({ client, provider, onDone }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await client.call('keys/set', { provider: provider.provider, key: key.trim() });
      setKey('');
      onDone();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const id = `key-${provider.provider}`;
  return html`<form class="key-form" onSubmit=${submit} data-testid="key-form" data-provider=${provider.provider}>
    <label class="sr-only" for=${id}>API key for ${provider.provider}</label>
    <input id=${id} type="password" autocomplete="off" spellcheck="false" data-testid="key-input"
      placeholder=${provider.keyVariable || 'API key'} value=${key} onInput=${(e) => setKey(e.currentTarget.value)} />
    <button type="submit" class="btn btn-small btn-primary" data-testid="key-save" disabled=${busy || !key.trim()}>Save</button>
    ${error ? html`<span class="form-error" role="alert">${error}</span>` : null}
  </form>`;
}

function Providers({ client, readOnly, onChanged }) {
  const [r, error, reload] = useCall(client, 'keys/list', undefined, [client]);
  const [note, setNote] = useState(null);
  const done = (msg) => { setNote(msg); reload(); onChanged(); };
  const remove = async (p) => {
    setNote(null);
    try {
      const res = await client.call('keys/remove', { provider: p.provider });
      done(res.removed ? `Removed the stored key of ${p.provider}.` : `${p.provider} had no stored key.`);
    } catch (e) {
      setNote(errorText(e));
    }
  };
  return html`<section class="card" aria-labelledby="providers-h" data-testid="settings-providers">
    <h2 id="providers-h">Provider keys</h2>
    <p class="muted">Keys are kept encrypted by the server (as <code>cowork auth set</code> does) and never shown again.
      A key from the environment wins over a stored one.</p>
    <${Unavailable} error=${error} what="key management" />
    ${note ? html`<p role="status" data-testid="providers-note">${note}</p>` : null}
    ${r ? html`<table class="table">
      <thead><tr><th scope="col">Provider</th><th scope="col">Key</th><th scope="col"></th></tr></thead>
      <tbody>${r.providers.map((p) => html`<tr data-testid="provider-row" data-provider=${p.provider}>
        <td>${p.provider}</td>
        <td data-testid="provider-key-state">${p.hasKey ? html`<span class="ok">set</span> <span class="muted">(${p.source === 'env' ? `from ${p.keyVariable}` : 'stored'})</span>`
          : html`<span class="muted">${p.detail || 'none'}</span>`}</td>
        <td>${readOnly ? null : html`<div class="key-actions">
          <${KeyForm} client=${client} provider=${p} onDone=${() => done(`Saved the key of ${p.provider}.`)} />
          ${p.source === 'store' ? html`<button type="button" class="btn btn-small btn-danger" data-testid="key-remove"
            onClick=${() => remove(p)}>Remove</button>` : null}
        </div>`}</td></tr>`)}</tbody>
    </table>` : null}
  </section>`;
}

const STATUS_CLASS = { ok: 'ok', warn: 'warn', fail: 'fail' };

function Status({ client }) {
  const [r, error] = useCall(client, 'server/status', undefined, [client]);
  return html`<section class="card" aria-labelledby="status-h" data-testid="settings-status">
    <h2 id="status-h">Server</h2>
    <${Unavailable} error=${error} what="a status report" />
    ${r ? html`<dl class="facts">
        <dt>Version</dt><dd>${r.version}</dd>
        <dt>Sandbox</dt><dd data-testid="sandbox-status">${r.sandbox.available ? html`<span class="ok">${r.sandbox.kind}</span>` : html`<span class="fail">unavailable</span>`}
          <span class="muted"> ${r.sandbox.detail}</span></dd>
        <dt>Store</dt><dd>${r.store.kind} <span class="muted">${r.store.detail}</span></dd>
      </dl>
      <table class="table">
        <thead><tr><th scope="col">Check</th><th scope="col">Status</th><th scope="col">Detail</th></tr></thead>
        <tbody>${r.checks.map((c) => html`<tr data-testid="status-check">
          <td>${c.name}</td><td class=${STATUS_CLASS[c.status] || ''}>${c.status}</td>
          <td>${c.detail}${c.fix && c.status !== 'ok' ? html`<div class="muted">${c.fix}</div>` : null}</td></tr>`)}</tbody>
      </table>` : error ? null : html`<p class="muted">Loading…</p>`}
  </section>`;
}

function Browser({ client }) {
  const [perm, setPerm] = useState(notificationPermission());
  return html`<section class="card" aria-labelledby="browser-h">
    <h2 id="browser-h">This browser</h2>
    <p>Notifications when an approval waits while this page is in the background:
      <strong data-testid="notification-permission">${perm}</strong>
      ${perm === 'default' ? html` <button type="button" class="btn btn-small"
        onClick=${async () => setPerm(await askNotificationPermission())}>Allow notifications</button>` : null}</p>
    ${client.token ? html`<p>This tab holds a token${client.readOnly ? ' (read-only)' : ''}.
      <button type="button" class="btn btn-small" data-testid="forget-token"
        onClick=${() => { storeToken(null); client.setToken(null); }}>Forget it</button></p>` : null}
  </section>`;
}

/** The settings page. */
export function Settings({ client }) {
  const [bump, setBump] = useState(0);
  return html`<main class="page page-settings" aria-labelledby="settings-title" data-testid="settings">
    <h1 id="settings-title">Settings</h1>
    <${Models} key=${bump} client=${client} />
    <${Providers} client=${client} readOnly=${client.readOnly} onChanged=${() => setBump(bump + 1)} />
    <${Status} client=${client} />
    <${Browser} client=${client} />
  </main>`;
}

// The page: one protocol client for the tab, the connection banner, the sidebar of sessions and
// the view of the current route. Nothing here decides anything the server does not: every
// action is a protocol call (docs/protocol.md), every state is derived from its answers and
// journaled events.

import { html, render, useState, useEffect } from '../vendor/preact.js';
import { Client } from './rpc.js';
import { useRoute, navigate } from './router.js';
import { SessionList, NewSession } from './sessions.js';
import { RunList } from './runs.js';
import { ScheduleList, NewSchedule } from './schedules.js';
import { SessionView } from './session.js';
import { Settings } from './settings.js';
import { MemoryView } from './memory.js';
import { TokenPrompt } from './auth.js';
import { Shortcuts } from './keys.js';

function useClientStatus(client) {
  const [status, setStatus] = useState(client.status);
  useEffect(() => {
    const off = client.onStatus((s) => setStatus(s));
    setStatus(client.status);  // it may have changed between the first render and this effect
    return off;
  }, [client]);
  return status;
}

function ConnectionBanner({ client, status }) {
  const [, setNow] = useState(0);
  useEffect(() => {
    if (status !== 'reconnecting' && status !== 'connecting') return undefined;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [status]);
  if (status === 'open') return null;
  if (status === 'failed') {
    return html`<div class="banner banner-error" role="alert" data-testid="connection-banner" data-status=${status}>
      This server speaks another protocol version: ${client.lastError}</div>`;
  }
  if (status === 'auth') return null;
  const secs = client.retryAt ? Math.max(0, Math.ceil((client.retryAt - Date.now()) / 1000)) : 0;
  return html`<div class="banner" role="status" data-testid="connection-banner" data-status=${status}>
    ${status === 'reconnecting' ? 'Connection lost' : 'Connecting to the server'}${client.lastError ? ` (${client.lastError})` : ''}.
    ${status === 'reconnecting' ? ` Reconnecting${secs ? ` in ${secs} s` : ''}; nothing is lost, the session resumes where it stopped. ` : ' '}
    <button type="button" class="btn btn-small" onClick=${() => client.retryNow()}>Retry now</button>
  </div>`;
}

function Home({ client }) {
  return html`<main class="page page-home" aria-labelledby="home-title">
    <h1 id="home-title">cowork</h1>
    <p>Pick a session on the left${client.readOnly ? '' : html`, or <a href="/new" onClick=${(e) => { e.preventDefault(); navigate('/new'); }}>start a new one</a>`}.
      Sessions started from <code>cowork run</code>, <code>cowork chat</code> or the SDK show up here too.</p>
    ${client.readOnly ? null : html`<p>Work while you are away: <a href="/schedules/new" data-testid="new-schedule-link"
      onClick=${(e) => { e.preventDefault(); navigate('/schedules/new'); }}>schedule a job</a> that runs on its own.</p>`}
    <p class="muted">Press <kbd>?</kbd> for keyboard shortcuts.</p>
  </main>`;
}

function App({ client }) {
  const status = useClientStatus(client);
  const route = useRoute();
  const [menu, setMenu] = useState(false);
  const [bump, setBump] = useState(0);
  const [scheduleTick, setScheduleTick] = useState(0);
  const connected = status === 'open';
  const readOnly = client.readOnly;
  useEffect(() => setMenu(false), [route.name, route.sessionId]);

  let main;
  if (status === 'auth') main = html`<${TokenPrompt} client=${client} />`;
  else if (!client.capabilities) main = html`<main class="page"><p class="muted" role="status">Connecting…</p></main>`;
  else if (route.name === 'session') main = html`<${SessionView} key=${route.sessionId} client=${client} sessionId=${route.sessionId} readOnly=${readOnly} />`;
  else if (route.name === 'new') main = readOnly ? html`<main class="page"><p>A read-only token cannot create sessions.</p></main>`
    : html`<${NewSession} client=${client} onCreated=${() => setBump(bump + 1)} />`;
  else if (route.name === 'new-schedule') main = readOnly ? html`<main class="page"><p>A read-only token cannot create schedules.</p></main>`
    : html`<${NewSchedule} client=${client} onCreated=${() => setScheduleTick((t) => t + 1)} />`;
  else if (route.name === 'settings') main = html`<${Settings} client=${client} />`;
  else if (route.name === 'memory') main = html`<${MemoryView} client=${client} readOnly=${readOnly} />`;
  else if (route.name === 'home') main = html`<${Home} client=${client} />`;
  else main = html`<main class="page"><h1>Not found</h1><p><a href="/" onClick=${(e) => { e.preventDefault(); navigate('/'); }}>All sessions</a></p></main>`;

  return html`<div class=${'app' + (menu ? ' menu-open' : '')} data-testid="app" data-status=${status} data-read-only=${readOnly ? 'true' : 'false'}>
    <a class="skip-link" href="#main">Skip to the content</a>
    <header class="topbar">
      <button type="button" class="btn btn-quiet menu-toggle" aria-expanded=${menu ? 'true' : 'false'} aria-controls="sidebar"
        onClick=${() => setMenu(!menu)} aria-label="Sessions">☰</button>
      <a href="/" class="brand" onClick=${(e) => { e.preventDefault(); navigate('/'); }}>cowork</a>
      ${readOnly ? html`<span class="badge badge-warn" data-testid="read-only-badge" title="this token can look, not change">read-only</span>` : null}
      <span class="spacer"></span>
      <span class=${'conn conn-' + status} data-testid="connection-status" role="status" aria-label=${`connection: ${status}`}>
        <span class="conn-dot" aria-hidden="true"></span><span class="conn-text">${status === 'open' ? 'connected' : status}</span></span>
      <button type="button" class="btn btn-quiet btn-small" onClick=${() => window.dispatchEvent(new Event('cowork:shortcuts'))}
        aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)">?</button>
      <a href="/memory" class="btn btn-quiet btn-small" data-testid="memory-link"
        onClick=${(e) => { e.preventDefault(); navigate('/memory'); }}>Memory</a>
      <a href="/settings" class="btn btn-quiet btn-small" data-testid="settings-link"
        onClick=${(e) => { e.preventDefault(); navigate('/settings'); }}>Settings</a>
    </header>
    <${ConnectionBanner} client=${client} status=${status} />
    <div class="layout">
      <aside id="sidebar" class="sidebar">
        ${client.capabilities ? html`<${SessionList} client=${client} connected=${connected} bump=${bump}
          currentId=${route.name === 'session' ? route.sessionId : null} />` : null}
        ${client.capabilities ? html`<${RunList} client=${client} connected=${connected}
          onRun=${(run) => { if (run.reason === 'schedule') setScheduleTick((t) => t + 1); }} />` : null}
        ${client.capabilities ? html`<${ScheduleList} client=${client} connected=${connected} tick=${scheduleTick} />` : null}
      </aside>
      <div id="main" class="main" tabindex="-1">${main}</div>
    </div>
    <${Shortcuts} />
  </div>`;
}

const client = new Client();
window.coworkClient = client;  // for the browser tests and the console: the page's one connection
render(html`<${App} client=${client} />`, document.getElementById('root'));

// Routes of the single page, read from the URL path (the server answers index.html on each):
// `/` (the list), `/new`, `/schedules/new`, `/settings`, `/memory`, `/sessions/ID`. Links call `navigate`, which uses the
// History API, so the back button and deep links work without a reload.

import { useState, useEffect } from '../vendor/preact.js';

const listeners = new Set();

/**
 * The route of a path.
 *
 * @param {string} path `location.pathname`
 * @returns {{name: 'home'|'new'|'new-schedule'|'settings'|'memory'|'session'|'missing', sessionId?: string}}
 */
export function parseRoute(path) {
  if (path === '/' || path === '') return { name: 'home' };
  if (path === '/new') return { name: 'new' };
  if (path === '/schedules/new') return { name: 'new-schedule' };
  if (path === '/settings') return { name: 'settings' };
  if (path === '/memory') return { name: 'memory' };
  const m = /^\/sessions\/([^/]+)\/?$/.exec(path);
  if (m) {
    try { return { name: 'session', sessionId: decodeURIComponent(m[1]) }; } catch { /* bad escape */ }
  }
  return { name: 'missing' };
}

/** Go to `path` (pushes a history entry unless `replace`). */
export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname) return;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  for (const fn of listeners) fn();
}

window.addEventListener('popstate', () => { for (const fn of listeners) fn(); });

/** The current route; re-renders the caller when it changes. */
export function useRoute() {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const fn = () => setRoute(parseRoute(location.pathname));
    listeners.add(fn);
    return () => listeners.delete(fn);
  }, []);
  return route;
}

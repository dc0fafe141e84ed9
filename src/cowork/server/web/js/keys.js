// Keyboard shortcuts that work anywhere on the page, and the list `?` opens. The approval
// shortcuts (Alt+Y, Alt+S, Alt+N) live with the approval cards, the composer's (Enter, Escape)
// with the composer, Alt+C with the session view.

import { html, useEffect, useState } from '../vendor/preact.js';
import { Modal } from './changes.js';

export const SHORTCUTS = [
  ['Enter', 'send the message (Shift+Enter: a new line)'],
  ['Esc', 'in the composer: interrupt the running turn; in a dialog: close it'],
  ['Alt+Y', 'allow the newest pending call once (or approve the plan)'],
  ['Alt+S', 'allow it for this session'],
  ['Alt+N', 'deny it (then type the reason, Enter)'],
  ['Alt+C', 'show or hide the changes panel'],
  ['/', 'go to the composer'],
  ['?', 'this list'],
];

function typing(target) {
  return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

/** Listens for `/` and `?`; renders the shortcut list when asked. */
export function Shortcuts() {
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const onKey = (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
      if (e.key === '?') { e.preventDefault(); setOpen(true); }
      if (e.key === '/') { e.preventDefault(); window.dispatchEvent(new Event('cowork:focus-composer')); }
    };
    const onAsk = () => setOpen(true);
    window.addEventListener('keydown', onKey);
    window.addEventListener('cowork:shortcuts', onAsk);
    return () => { window.removeEventListener('keydown', onKey); window.removeEventListener('cowork:shortcuts', onAsk); };
  }, []);
  if (!open) return null;
  return html`<${Modal} title="Keyboard shortcuts" testid="shortcuts" onClose=${() => setOpen(false)}>
    <dl class="shortcuts">${SHORTCUTS.map(([k, v]) => html`<dt><kbd>${k}</kbd></dt><dd>${v}</dd>`)}</dl>
    <div class="modal-actions"><button type="button" class="btn btn-primary" onClick=${() => setOpen(false)}>Close</button></div>
  <//>`;
}

// Unified diffs (as cowork's tools and checkpoints write them) shown unified or side by side.
// The side-by-side view is built from the unified text: within each hunk, a run of removed
// lines and the run of added lines after it are paired line by line.

import { html, useMemo, useState } from '../vendor/preact.js';

/** Lines rendered before a "show all" button (a big diff would make thousands of nodes). */
const LINES_SHOWN = 1500;

/**
 * Parse a unified diff.
 *
 * @param {string|null|undefined} text unified diff (`--- a/x`, `+++ b/x`, `@@ -a,b +c,d @@`
 *   hunks); other lines before the first hunk (`mode 644 → 755`, `Binary files differ (…)`)
 *   are kept as `meta`.
 * @returns {{meta: string[], binary: boolean, hunks: Array<{header: string, lines: Array<{
 *   kind: ' '|'-'|'+'|'\\', text: string, old: number|null, new: number|null}>}>,
 *   added: number, removed: number}}
 */
export function parseDiff(text) {
  const out = { meta: [], binary: false, hunks: [], added: 0, removed: 0 };
  if (!text) return out;
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  let hunk = null;
  let oldNo = 0;
  let newNo = 0;
  for (const line of lines) {
    const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (m) {
      hunk = { header: line, lines: [] };
      out.hunks.push(hunk);
      oldNo = Number(m[1]);
      newNo = Number(m[2]);
      continue;
    }
    if (!hunk) {
      if (line.startsWith('--- ') || line.startsWith('+++ ')) continue;
      if (line.startsWith('Binary files')) out.binary = true;
      out.meta.push(line);
      continue;
    }
    const kind = line[0];
    const body = line.slice(1);
    if (kind === '+') {
      hunk.lines.push({ kind, text: body, old: null, new: newNo++ });
      out.added++;
    } else if (kind === '-') {
      hunk.lines.push({ kind, text: body, old: oldNo++, new: null });
      out.removed++;
    } else if (kind === '\\') {
      hunk.lines.push({ kind, text: line, old: null, new: null });
    } else if (kind === ' ' || line === '') {
      hunk.lines.push({ kind: ' ', text: body, old: oldNo++, new: newNo++ });
    } else {
      // Not diff syntax (e.g. "… diff cut at N characters"): a note.
      hunk = null;
      out.meta.push(line);
    }
  }
  return out;
}

/**
 * Pair a hunk's lines into side-by-side rows.
 *
 * @param {Array<{kind: string, text: string, old: number|null, new: number|null}>} lines
 * @returns {Array<{left: object|null, right: object|null, note?: string}>} a row's `left` is a
 *   removed or context line, `right` an added or context line; null pads an unpaired side.
 */
export function pairLines(lines) {
  const rows = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.kind === ' ') {
      rows.push({ left: line, right: line });
      i++;
    } else if (line.kind === '\\') {
      rows.push({ left: null, right: null, note: line.text });
      i++;
    } else {
      const removed = [];
      const added = [];
      while (i < lines.length && lines[i].kind === '-') removed.push(lines[i++]);
      while (i < lines.length && (lines[i].kind === '+' || lines[i].kind === '\\')) {
        if (lines[i].kind === '+') added.push(lines[i]);
        i++;
      }
      for (let k = 0; k < Math.max(removed.length, added.length); k++) {
        rows.push({ left: removed[k] || null, right: added[k] || null });
      }
    }
  }
  return rows;
}

const KIND_CLASS = { '+': 'add', '-': 'del', ' ': 'ctx', '\\': 'note' };
const KIND_LABEL = { '+': 'added', '-': 'removed', ' ': '', '\\': '' };

function UnifiedLines({ hunks, limit }) {
  const rows = [];
  let n = 0;
  for (const hunk of hunks) {
    if (n >= limit) break;
    rows.push(html`<div class="dl dl-hunk"><span class="dl-text">${hunk.header}</span></div>`);
    for (const line of hunk.lines) {
      if (n++ >= limit) break;
      rows.push(html`<div class=${'dl dl-' + KIND_CLASS[line.kind]}>
        <span class="ln">${line.old ?? ''}</span>
        <span class="ln">${line.new ?? ''}</span>
        <span class="dm" aria-label=${KIND_LABEL[line.kind]}>${line.kind === '\\' ? '' : line.kind}</span>
        <span class="dl-text">${line.text}</span>
      </div>`);
    }
  }
  return rows;
}

function SplitLines({ hunks, limit }) {
  const rows = [];
  let n = 0;
  for (const hunk of hunks) {
    if (n >= limit) break;
    rows.push(html`<div class="dr dr-hunk"><span class="dl-text">${hunk.header}</span></div>`);
    for (const row of pairLines(hunk.lines)) {
      if (n++ >= limit) break;
      if (row.note) {
        rows.push(html`<div class="dr dr-note"><span class="dl-text">${row.note}</span></div>`);
        continue;
      }
      const l = row.left;
      const r = row.right;
      rows.push(html`<div class="dr">
        <span class="ln">${l ? l.old : ''}</span>
        <span class=${'dl-text ' + (l ? (l.kind === '-' ? 'del' : 'ctx') : 'empty')}
          aria-label=${l && l.kind === '-' ? 'removed' : null}>${l ? l.text : ''}</span>
        <span class="ln">${r ? r.new : ''}</span>
        <span class=${'dl-text ' + (r ? (r.kind === '+' ? 'add' : 'ctx') : 'empty')}
          aria-label=${r && r.kind === '+' ? 'added' : null}>${r ? r.text : ''}</span>
      </div>`);
    }
  }
  return rows;
}

/**
 * A unified diff, unified or side by side.
 *
 * @param {{diff: string|null, path?: string, mode?: 'unified'|'split'}} props `diff` is the
 *   unified diff text (null or '' shows "no textual changes"); binary files are named, not shown.
 */
export function Diff({ diff, path, mode = 'unified' }) {
  const parsed = useMemo(() => parseDiff(diff), [diff]);
  const [showAll, setShowAll] = useState(false);
  const total = parsed.hunks.reduce((n, h) => n + h.lines.length, 0);
  const limit = showAll ? Infinity : LINES_SHOWN;
  const label = path ? `diff of ${path}` : 'diff';
  const meta = parsed.meta.length
    ? html`<div class="diff-meta">${parsed.meta.map((m) => html`<div>${m}</div>`)}</div>` : null;
  if (!parsed.hunks.length) {
    return html`<div class="diff diff-empty" data-testid="diff-view" data-mode=${mode} aria-label=${label}>
      ${meta || html`<div class="diff-meta">No textual changes.</div>`}
    </div>`;
  }
  const Lines = mode === 'split' ? SplitLines : UnifiedLines;
  return html`<div class=${'diff diff-' + mode} data-testid="diff-view" data-mode=${mode}
      aria-label=${label}>
    ${meta}
    <${Lines} hunks=${parsed.hunks} limit=${limit} />
    ${total > limit ? html`<button type="button" class="btn btn-small diff-more"
        onClick=${() => setShowAll(true)}>Show all ${total} lines</button>` : null}
  </div>`;
}

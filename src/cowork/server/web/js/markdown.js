// Markdown for untrusted text (the model's messages): markdown-it with raw HTML off, code
// highlighted by highlight.js, and the HTML passed through a private DOMPurify instance that
// keeps only what Markdown produces. Links open in a new tab without referrer or opener;
// javascript:, data: and vbscript: URLs are dropped; images are shown as links (the CSP allows
// no remote images, and a tracking pixel should not load by itself).

import { html, useMemo } from '../vendor/preact.js';
import markdownit from '../vendor/markdown-it.js';
import createDOMPurify from '../vendor/purify.js';
import hljs from '../vendor/highlight.js';

/** Code longer than this (characters) is shown plain, not highlighted. */
const HIGHLIGHT_MAX = 20000;
/** Code without a language is auto-detected only up to this size (characters). */
const AUTO_DETECT_MAX = 4000;
/** Languages tried when a fence names none (auto-detection over all of them is slow). */
const AUTO_LANGUAGES = ['python', 'javascript', 'typescript', 'bash', 'shell', 'json', 'yaml',
  'xml', 'css', 'go', 'rust', 'java', 'c', 'cpp', 'sql', 'diff', 'ini', 'markdown', 'plaintext'];
const BAD_URL = /^[\s\u0000-\u001f]*(?:javascript|data|vbscript)\s*:/i;

const highlightCache = new Map(); // `${lang}\0${code}` -> highlighted HTML (LRU)
const renderCache = new Map();    // text -> sanitised HTML (LRU)
const CACHE_MAX = 400;
let autoDetect = true;

function remember(cache, key, value) {
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value);
  cache.set(key, value);
  return value;
}

function highlight(code, lang) {
  if (code.length > HIGHLIGHT_MAX) return '';
  const language = lang && hljs.getLanguage(lang) ? lang : null;
  if (!language && (!autoDetect || lang || code.length > AUTO_DETECT_MAX)) return '';
  const key = `${language || ''}\0${code}`;
  const hit = highlightCache.get(key);
  if (hit !== undefined) {
    highlightCache.delete(key);
    return remember(highlightCache, key, hit);
  }
  let out = '';
  try {
    out = language
      ? hljs.highlight(code, { language, ignoreIllegals: true }).value
      : hljs.highlightAuto(code, AUTO_LANGUAGES).value;
  } catch {
    out = '';
  }
  return remember(highlightCache, key, out);
}

const md = markdownit({
  html: false,
  linkify: true,
  typographer: false,
  highlight: (code, lang) => highlight(code, (lang || '').trim().toLowerCase()),
});

// Code blocks carry hljs's class so its theme applies to plain blocks too.
const defaultFence = md.renderer.rules.fence;
md.renderer.rules.fence = (tokens, idx, options, env, self) =>
  defaultFence(tokens, idx, options, env, self).replace(/^<pre><code( class="[^"]*")?>/,
    (_, cls) => `<pre class="md-code"><code class="hljs${cls ? ' ' + cls.slice(8, -1) : ''}">`);

// Images become links: nothing loads by itself.
md.renderer.rules.image = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  const src = token.attrGet('src') || '';
  const alt = self.renderInlineAsText(token.children || [], options, env) || src;
  const esc = md.utils.escapeHtml;
  return `<a href="${esc(src)}" class="md-image">image: ${esc(alt)}</a>`;
};

// Table alignment as classes (no style attributes survive the sanitiser).
md.core.ruler.push('align_classes', (state) => {
  for (const token of state.tokens) {
    if (token.type !== 'th_open' && token.type !== 'td_open') continue;
    const style = token.attrGet('style');
    if (style === null) continue;
    token.attrs = token.attrs.filter(([name]) => name !== 'style');
    const m = /text-align:\s*(left|right|center)/.exec(style);
    if (m) token.attrJoin('class', `md-align-${m[1]}`);
  }
});

const purify = createDOMPurify(window);
const PURIFY_CONFIG = {
  ALLOWED_TAGS: ['a', 'p', 'br', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'em', 'strong', 's',
    'del', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tr', 'th',
    'td', 'span'],
  ALLOWED_ATTR: ['href', 'title', 'class', 'start'],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  // http(s), mailto, or a relative reference (no scheme at all).
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
  FORBID_ATTR: ['style'],
};
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName !== 'A') return;
  const href = node.getAttribute('href');
  if (href !== null && BAD_URL.test(href)) node.removeAttribute('href');
  node.setAttribute('target', '_blank');
  node.setAttribute('rel', 'noopener noreferrer nofollow');
});

function toHtml(text) {
  return purify.sanitize(md.render(text), PURIFY_CONFIG);
}

/**
 * Render untrusted Markdown to sanitised HTML.
 *
 * Raw HTML in `text` comes out as text; links get `target="_blank"` and
 * `rel="noopener noreferrer nofollow"`; `javascript:`/`data:`/`vbscript:` URLs are removed;
 * images become links; fenced code is highlighted (auto-detected when the fence names no
 * language, up to 4,000 characters; blocks over 20,000 characters stay plain). Results are
 * cached by text.
 *
 * @param {string} text Markdown source (anything else renders as '').
 * @returns {string} HTML safe to assign to innerHTML.
 */
export function renderMarkdown(text) {
  if (typeof text !== 'string' || text === '') return '';
  const hit = renderCache.get(text);
  if (hit !== undefined) return hit;
  return remember(renderCache, text, toHtml(text));
}

/**
 * Render a text that is still growing: no cache entry is kept for it and code without a
 * language is not auto-detected (that is redone on every frame otherwise).
 *
 * @param {string} text
 * @returns {string} sanitised HTML
 */
export function renderStreamingMarkdown(text) {
  if (typeof text !== 'string' || text === '') return '';
  const hit = renderCache.get(text);
  if (hit !== undefined) return hit;
  autoDetect = false;
  try {
    return toHtml(text);
  } finally {
    autoDetect = true;
  }
}

/**
 * A block of rendered Markdown.
 *
 * @param {{text: string, streaming?: boolean}} props `streaming` while the text still grows
 *   (re-rendered on each render the caller makes, which F1 coalesces to one per frame).
 */
export function Markdown({ text, streaming = false }) {
  const htmlText = useMemo(
    () => (streaming ? renderStreamingMarkdown(text) : renderMarkdown(text)),
    [text, streaming],
  );
  return html`<div class="md" dangerouslySetInnerHTML=${{ __html: htmlText }}></div>`;
}

// Markdown as agents write it (GitHub's dialect: tables, task lists, fenced code, strikethrough, bare links),
// parsed by markdown-it (served from node_modules, see src/http/dashboard.ts) with raw HTML refused, and
// rendered safely: its tokens become elements made by h() and text nodes here — its HTML output is never
// used and nothing is ever parsed as HTML, so nothing in a message can run. Links keep only http(s) and
// mailto targets; images show as their text (the page loads nothing a message names).

import { h } from './dom.js';

const SAFE_URL = /^(https?:|mailto:)/i;

/** Texts longer than this are shown as plain text: parsing megabytes would hold the page. */
const MAX_MARKDOWN_CHARS = 200_000;

// The parser (about half of the dashboard's bytes) is loaded when a session is first opened, not with the list.
let md = null;
let loading = null;
// Texts drawn as plain text while the parser loads, drawn again once it is here.
const waiting = new Set();

/** Loads the parser once; resolves when it is here (or could not be loaded: texts then stay plain). A session view awaits it before drawing its events. */
export function loadMarkdown() {
  loading ??= import('./markdown-it.js').then(
    ({ default: markdownit }) => {
      md = markdownit({ html: false, linkify: true, typographer: false, breaks: false });
      // Every link is parsed as a link, so `[text](javascript:…)` shows as its text; appendInline then keeps the
      // address only when it is http(s) or mailto.
      md.validateLink = () => true;
      for (const { root, text } of waiting) draw(root, text);
      waiting.clear();
    },
    // Unreachable: the texts stay plain, and the next session opened tries again.
    () => {
      loading = null;
      waiting.clear();
    },
  );
  return loading;
}

/** Block and inline tags a token may open; anything else is rendered as its children only. */
const TAGS = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'blockquote', 'ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'strong', 'em', 's', 'a']);

const TASK = /^\[([ xX])\][ \t]+/;

/** A <div class="markdown"> holding the text rendered (as plain text until the parser has loaded). */
export function renderMarkdown(text) {
  const root = h('div', { class: 'text markdown' });
  if (text.length > MAX_MARKDOWN_CHARS) {
    root.append(h('p', { class: 'md-plain', text }));
  } else if (md) {
    draw(root, text);
  } else {
    root.append(h('p', { class: 'md-plain', text }));
    waiting.add({ root, text });
    loadMarkdown();
  }
  return root;
}

function draw(root, text) {
  let tokens;
  try {
    tokens = md.parse(text, {});
  } catch {
    root.replaceChildren(h('p', { class: 'md-plain', text }));
    return;
  }
  root.replaceChildren();
  build(root, tokens);
}

/** Appends what a flat token list (markdown-it's nesting +1 / 0 / −1) describes to `root`. */
function build(root, tokens) {
  const stack = [root];
  const top = () => stack[stack.length - 1];
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i];
    if (token.nesting === 1) {
      // Tight lists hide their paragraphs: the item holds the text itself.
      if (token.hidden) {
        stack.push(top());
        continue;
      }
      const [outer, inner] = openElement(token);
      top().append(outer);
      stack.push(inner);
      continue;
    }
    if (token.nesting === -1) {
      if (stack.length > 1) stack.pop();
      continue;
    }
    switch (token.type) {
      case 'inline':
        appendInline(top(), token.children ?? []);
        break;
      case 'fence':
      case 'code_block': {
        const lang = token.type === 'fence' ? token.info.trim().split(/\s+/)[0] : '';
        top().append(h('pre', { class: 'code md-code', dataset: lang ? { lang } : undefined }, h('code', { text: token.content.replace(/\n$/, '') })));
        break;
      }
      case 'hr':
        top().append(h('hr'));
        break;
      case 'text':
      case 'html_block':
      case 'html_inline':
        top().append(token.content);
        break;
      default:
        if (token.content) top().append(token.content);
    }
  }
}

function openElement(token) {
  let tag = token.tag;
  if (/^h[1-6]$/.test(tag)) {
    const heading = h(`h${Math.min(6, Number(tag[1]) + 2)}`, { class: 'md-heading' });
    return [heading, heading];
  }
  if (tag === 'table') {
    // Wide tables scroll inside their own box, not the page.
    const table = h('table', { class: 'md-table' });
    return [h('div', { class: 'md-table-wrap', tabindex: '0' }, table), table];
  }
  if (!TAGS.has(tag)) tag = 'span';
  const el = h(tag);
  if (tag === 'ol') {
    const start = Number(token.attrGet('start'));
    if (Number.isInteger(start) && start !== 1) el.setAttribute('start', String(start));
  }
  if (tag === 'th' || tag === 'td') {
    // markdown-it puts a column's alignment in a style attribute; the page allows none: a class instead.
    const align = /text-align:(left|right|center)/.exec(token.attrGet('style') ?? '');
    if (align) el.className = `md-align-${align[1]}`;
  }
  return [el, el];
}

/** An inline token's children: text, code, emphasis, links, breaks; a task list item's box first. */
function appendInline(parent, children) {
  const item = parent.tagName === 'LI' ? parent : parent.tagName === 'P' && parent.parentElement?.tagName === 'LI' ? parent.parentElement : null;
  // A task box only where the item's text starts: "- [ ] todo" or "- [x] done".
  let first = Boolean(item) && !item.dataset.task && (parent === item ? item.childNodes.length === 0 : item.firstChild === parent && parent.childNodes.length === 0);
  const stack = [parent];
  const top = () => stack[stack.length - 1];
  for (const child of children) {
    if (first && child.type === 'text') {
      const task = TASK.exec(child.content);
      if (task) {
        const done = task[1] !== ' ';
        item.dataset.task = done ? 'done' : 'open';
        item.classList.add('task-list-item');
        const box = h('input', { type: 'checkbox', disabled: true, checked: done, 'aria-label': done ? 'Done' : 'Not done' });
        top().append(box, child.content.slice(task[0].length));
        first = false;
        continue;
      }
    }
    first = false;
    switch (child.type) {
      case 'text':
        top().append(child.content);
        break;
      case 'code_inline':
        top().append(h('code', { text: child.content }));
        break;
      case 'softbreak':
        top().append('\n');
        break;
      case 'hardbreak':
        top().append(h('br'));
        break;
      case 'image':
        // Never loaded: its description, linked when its address is safe.
        top().append(link(child.content || child.attrGet('alt') || 'image', child.attrGet('src') ?? ''));
        break;
      case 'link_open': {
        const href = child.attrGet('href') ?? '';
        const el = SAFE_URL.test(href) ? h('a', { href, rel: 'noopener noreferrer nofollow', target: '_blank' }) : h('span');
        top().append(el);
        stack.push(el);
        break;
      }
      case 'link_close':
      case 'strong_close':
      case 'em_close':
      case 's_close':
        if (stack.length > 1) stack.pop();
        break;
      case 'strong_open':
      case 'em_open':
      case 's_open': {
        const el = h(child.tag === 's' ? 's' : child.tag === 'strong' ? 'strong' : 'em');
        top().append(el);
        stack.push(el);
        break;
      }
      default:
        if (child.content) top().append(child.content);
    }
  }
}

function link(text, url) {
  if (!SAFE_URL.test(url)) return document.createTextNode(text);
  return h('a', { href: url, rel: 'noopener noreferrer nofollow', target: '_blank' }, text);
}

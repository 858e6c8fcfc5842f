// Markdown as agents write it, rendered safely: the text is split into blocks and inline spans here and
// every piece reaches the page as a text node or an element made by h() — no HTML is ever parsed, so
// nothing in a message can run. Links keep only http(s) and mailto targets.
// Supported: paragraphs, # headings, ``` fenced code, > quotes, - / * / 1. lists, `code`, **bold**,
// *italic* / _italic_, [text](url), bare http(s) URLs.

import { h } from './dom.js';

const SAFE_URL = /^(https?:|mailto:)/i;

/** A <div class="markdown"> holding the text rendered. */
export function renderMarkdown(text) {
  const root = h('div', { class: 'text markdown' });
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = /^\s*(```|~~~)\s*([\w+-]*)\s*$/.exec(line);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i += 1;
      root.append(h('pre', { class: 'code md-code', dataset: fence[2] ? { lang: fence[2] } : undefined }, h('code', { text: body.join('\n') })));
      continue;
    }
    if (line.trim() === '') {
      i += 1;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      root.append(h(`h${Math.min(6, heading[1].length + 2)}`, { class: 'md-heading' }, inline(heading[2])));
      i += 1;
      continue;
    }
    if (/^\s*>/.test(line)) {
      const body = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) body.push(lines[i++].replace(/^\s*>\s?/, ''));
      root.append(h('blockquote', null, [...renderMarkdown(body.join('\n')).childNodes]));
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+/;
    if (item.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = h(ordered ? 'ol' : 'ul');
      while (i < lines.length && item.test(lines[i])) {
        let content = lines[i++].replace(item, '');
        // Continuation lines, indented, belong to the item.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !item.test(lines[i])) content += ` ${lines[i++].trim()}`;
        list.append(h('li', null, inline(content)));
      }
      root.append(list);
      continue;
    }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() !== '' && !/^\s*(```|~~~|#{1,6}\s|>)/.test(lines[i]) && !item.test(lines[i])) paragraph.push(lines[i++]);
    const p = h('p');
    paragraph.forEach((text, index) => {
      if (index > 0) p.append('\n');
      p.append(...inline(text));
    });
    root.append(p);
  }
  return root;
}

const INLINE =
  /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|(?<![\w])_([^_\s][^_]*)_(?![\w])|\[([^\]]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;

/** Inline spans of one line, as nodes. */
function inline(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    last = match.index + match[0].length;
    const [, ticks, code, bold1, bold2, em1, em2, linkText, linkUrl, bare] = match;
    if (ticks) nodes.push(h('code', { text: code }));
    else if (bold1 !== undefined || bold2 !== undefined) nodes.push(h('strong', null, inline(bold1 ?? bold2)));
    else if (em1 !== undefined || em2 !== undefined) nodes.push(h('em', null, inline(em1 ?? em2)));
    else if (linkText !== undefined) nodes.push(link(linkText, linkUrl));
    else if (bare) nodes.push(link(bare, bare));
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function link(text, url) {
  if (!SAFE_URL.test(url)) return document.createTextNode(text);
  return h('a', { href: url, rel: 'noopener noreferrer nofollow', target: '_blank' }, text);
}

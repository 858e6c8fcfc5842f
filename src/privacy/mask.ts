import { RE2JS } from 're2js';

/**
 * Secrets masked before anything is stored: each secret found in a text becomes `[redacted:<kind>]`.
 *
 * Every detector is a hand-written scan that reads each character a bounded number of times, so masking takes
 * time linear in the text whatever it holds (no regular expression that can backtrack runs over client text).
 * Candidates are found by searching for fixed prefixes (indexOf per prefix), then each candidate is checked by
 * walking forward over its characters (each walk bounded); a detector never walks again over characters it has
 * walked for an earlier candidate, and `NAME=value` is read backwards from each `=` only as far as the name. Patterns from configuration (REDACT_PATTERNS) run on RE2JS, an RE2 port that
 * matches in linear time by construction.
 */

/** What masking a text did: the text as it may be stored, how many secrets it replaced, and their kinds. */
export interface Masked<T> {
  value: T;
  count: number;
  kinds: string[];
}

export interface MaskedText {
  text: string;
  count: number;
  kinds: string[];
}

/** A pattern from REDACT_PATTERNS: its matches are masked as `[redacted:<kind>]`. */
export interface RedactPattern {
  kind: string;
  pattern: string;
}

/** Masks texts and JSON values; a Masker with `enabled: false` returns everything as given. */
export interface Masker {
  readonly enabled: boolean;
  text(text: string): MaskedText;
  /** Every string inside a JSON value (and the string values of fields whose name says secret): a copy where anything changed. */
  json<T>(value: T): Masked<T>;
}

export const marker = (kind: string): string => `[redacted:${kind}]`;

interface Span {
  start: number;
  end: number;
  kind: string;
}

// Character classes as lookup tables over char codes below 128 (every class here is ASCII).
const table = (chars: string): Uint8Array => {
  const result = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) {
    const code = chars.charCodeAt(i);
    if (chars[i + 1] === '-' && i + 2 < chars.length) {
      for (let c = code; c <= chars.charCodeAt(i + 2); c++) result[c] = 1;
      i += 2;
    } else result[code] = 1;
  }
  return result;
};

const UPPER_DIGIT = table('A-Z0-9');
const ALNUM = table('A-Za-z0-9');
const WORD = table('A-Za-z0-9_');
const TOKEN = table('A-Za-z0-9_-');
const BASE64 = table('A-Za-z0-9+/');
const SLACK_PATH = table('A-Za-z0-9/_-');

const inClass = (cls: Uint8Array, code: number): boolean => code < 128 && cls[code] === 1;

/** The end of the run of `cls` characters starting at `from` (reads at most `limit` of them). */
function runEnd(text: string, from: number, cls: Uint8Array, limit = Infinity): number {
  let i = from;
  const stop = Math.min(text.length, from + limit);
  while (i < stop && inClass(cls, text.charCodeAt(i))) i++;
  return i;
}

const hasDigit = (text: string, start: number, end: number): boolean => {
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) return true;
  }
  return false;
};

/**
 * The fixed prefixes that may start a secret, each found with indexOf (a memchr-speed search: text without
 * any costs about a microsecond per KB for all of them). `back`: how many characters before the literal the
 * candidate starts, one of `first` (a case the literal leaves open); `next`: characters that must follow it.
 */
interface Literal {
  literal: string;
  back?: number;
  first?: string;
  next?: string[];
}
const LITERALS: Literal[] = [
  { literal: 'AKIA' },
  { literal: 'ASIA' },
  { literal: 'gh', next: ['pousr', '_'] },
  { literal: 'github_pat_' },
  { literal: 'glpat-' },
  { literal: 'xox', next: ['abprs', '-'] },
  { literal: 'hooks.slack.com/' },
  { literal: 'sk-' },
  { literal: 'eyJ' },
  { literal: '-----BEGIN ' },
  { literal: '://' },
  { literal: 'uthorization', back: 1, first: 'aA' },
  { literal: 'UTHORIZATION', back: 1, first: 'A' },
  { literal: 'ecret_access_key', back: 1, first: 'sS' },
  { literal: 'ecretAccessKey', back: 1, first: 'sS' },
  { literal: 'ECRET_ACCESS_KEY', back: 1, first: 'S' },
];

// Words that, as a part of a variable's name, say its value is secret. A part is the name split at `_`, `-`
// and `.`; it says so when it is one of these (or its plural), or one of these after one of PREFIXES
// (APIKEY, AUTHTOKEN, DBPASSWORD), but not when it merely starts with one (KEYBOARD, TOKENIZER, PASSWORDLESS).
const SECRET_WORDS = ['SECRET', 'TOKEN', 'PASSWORD', 'PASSWD', 'PASS', 'KEY', 'CREDENTIAL', 'CREDENTIALS', 'APIKEY', 'PASSPHRASE'];
const SECRET_PREFIXES = ['API', 'ACCESS', 'SECRET', 'PRIVATE', 'AUTH', 'SESSION', 'REFRESH', 'BEARER', 'DB', 'SIGNING', 'ENCRYPTION', 'MASTER', 'CLIENT', 'APP', 'ID', 'USER'];
// Parts that make a name about keys or tokens without holding one (PUBLIC_KEY, SORT_KEY, TOKEN_COUNT, MAX_TOKENS).
const HARMLESS_PARTS = [
  'PUBLIC',
  'SORT',
  'PRIMARY',
  'FOREIGN',
  'PARTITION',
  'COUNT',
  'COUNTS',
  'MAX',
  'MIN',
  'LIMIT',
  'USAGE',
  'TYPE',
  'NAME',
  'PATH',
  'FILE',
  'ID',
  'IDS',
  'URL',
  'LENGTH',
  'SIZE',
  'EXPIRES',
  'EXPIRY',
  'ENDPOINT',
  'HOST',
  'PORT',
  'REGION',
  'ARN',
  'DIR',
  'ALGORITHM',
  'FORMAT',
];

function isSecretPart(part: string): boolean {
  if (part.length < 3) return false;
  for (const word of SECRET_WORDS) {
    if (part === word || part === `${word}S`) return true;
    if (part.endsWith(word) && SECRET_PREFIXES.includes(part.slice(0, part.length - word.length))) return true;
  }
  return false;
}

/**
 * Whether a variable or field named so holds a secret: one of its parts says so (AWS_SECRET_ACCESS_KEY,
 * GITHUB_TOKEN, db.password, apiKey), and none says it is only about one (PUBLIC_KEY, TOKEN_COUNT, KEY_ID
 * once the id is the whole name's subject: AWS_ACCESS_KEY_ID is masked by the key's own detector instead).
 */
export function isSecretName(name: string): boolean {
  if (name.length < 3 || name.length > 128) return false;
  // camelCase parts become words of their own: apiKey → API_KEY, clientSecret → CLIENT_SECRET.
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase()
    .split(/[_.-]+/);
  let secret = false;
  for (const part of words) {
    if (HARMLESS_PARTS.includes(part)) return false;
    if (isSecretPart(part)) secret = true;
  }
  return secret;
}

// --- The detectors of fixed prefixes -------------------------------------------------------------------

// A boundary before a token: the character before is not one the token could continue.
const startsWord = (text: string, at: number, cls: Uint8Array): boolean => at === 0 || !inClass(cls, text.charCodeAt(at - 1));

/**
 * Checks the candidate at `at` (where an anchor matched); calls `span` for a secret; returns how far it read,
 * so that the scan skips anchors before that (they would read the same characters again).
 */
function checkAnchor(text: string, at: number, anchor: string, span: (start: number, end: number, kind: string) => void, ends: EndSearch): number {
  const upper = anchor.toUpperCase();
  if (upper === 'AKIA' || upper === 'ASIA') {
    if (anchor !== upper || !startsWord(text, at, UPPER_DIGIT)) return at + 1;
    const end = runEnd(text, at + 4, UPPER_DIGIT, 17);
    if (end - at === 20) span(at, end, 'aws_access_key');
    return end;
  }
  if (upper.startsWith('GH') && upper.length === 4) {
    if (anchor !== anchor.toLowerCase() || !startsWord(text, at, WORD)) return at + 1;
    const end = runEnd(text, at + 4, ALNUM, 256);
    if (end - at - 4 >= 30 && hasDigit(text, at + 4, end)) span(at, end, 'github_token');
    return end;
  }
  if (upper === 'GITHUB_PAT_') {
    if (anchor !== 'github_pat_' || !startsWord(text, at, WORD)) return at + 1;
    const end = runEnd(text, at + 11, WORD, 256);
    if (end - at - 11 >= 22) span(at, end, 'github_token');
    return end;
  }
  if (upper === 'GLPAT-') {
    if (anchor !== 'glpat-' || !startsWord(text, at, TOKEN)) return at + 1;
    const end = runEnd(text, at + 6, TOKEN, 256);
    if (end - at - 6 >= 20) span(at, end, 'gitlab_token');
    return end;
  }
  if (upper.startsWith('XOX')) {
    if (anchor !== anchor.toLowerCase() || !startsWord(text, at, TOKEN)) return at + 1;
    const end = runEnd(text, at + 5, TOKEN, 256);
    if (end - at - 5 >= 10 && hasDigit(text, at + 5, end)) span(at, end, 'slack_token');
    return end;
  }
  if (upper === 'HOOKS.SLACK.COM/') {
    if (anchor !== 'hooks.slack.com/') return at + 1;
    const end = runEnd(text, at + anchor.length, SLACK_PATH, 512);
    // The whole URL, scheme included, when it has one.
    const start = text.startsWith('https://', at - 8) ? at - 8 : text.startsWith('http://', at - 7) ? at - 7 : at;
    if (text.startsWith('services/', at + anchor.length) && end - at - anchor.length > 'services/'.length) span(start, end, 'slack_webhook');
    return end;
  }
  if (upper === 'SK-') {
    if (anchor !== 'sk-' || !startsWord(text, at, TOKEN)) return at + 1;
    const end = runEnd(text, at + 3, TOKEN, 512);
    const body = end - at - 3;
    if (text.startsWith('ant-', at + 3)) {
      if (body - 4 >= 20) span(at, end, 'anthropic_key');
    } else if (body >= 20 && hasDigit(text, at + 3, end) && !isKebabWords(text, at + 3, end)) span(at, end, 'openai_key');
    return end;
  }
  if (upper === 'EYJ') {
    if (anchor !== 'eyJ' || !startsWord(text, at, TOKEN)) return at + 1;
    return checkJwt(text, at, span);
  }
  if (upper === '-----BEGIN ') {
    if (anchor !== '-----BEGIN ') return at + 1;
    return checkPrivateKey(text, at, span, ends);
  }
  if (upper === '://') return checkUrlPassword(text, at, span);
  if (upper === 'AUTHORIZATION') return checkAuthorization(text, at + anchor.length, span);
  // secret_access_key, SecretAccessKey, aws_secret_access_key: an AWS secret key of 40 characters after it.
  return checkAwsSecret(text, at + anchor.length, span);
}

// Words joined by hyphens (a slug: sk-learn-tutorial-part-2-of-the-series) are not a key: keys have long runs.
function isKebabWords(text: string, start: number, end: number): boolean {
  let longest = 0;
  let current = 0;
  for (let i = start; i < end; i++) {
    if (text.charCodeAt(i) === 45) current = 0;
    else longest = Math.max(longest, ++current);
  }
  return longest < 16;
}

// header.payload.signature, base64url, both first parts JSON objects (`eyJ` is `{"` encoded).
function checkJwt(text: string, at: number, span: (start: number, end: number, kind: string) => void): number {
  const base64url = TOKEN;
  const headerEnd = runEnd(text, at, base64url, 8192);
  if (text.charCodeAt(headerEnd) !== 46 || headerEnd - at < 10) return headerEnd;
  if (!text.startsWith('eyJ', headerEnd + 1)) return headerEnd;
  const payloadEnd = runEnd(text, headerEnd + 1, base64url, 65536);
  if (text.charCodeAt(payloadEnd) !== 46 || payloadEnd - headerEnd < 10) return payloadEnd;
  const signatureEnd = runEnd(text, payloadEnd + 1, base64url, 8192);
  span(at, signatureEnd, 'jwt');
  return signatureEnd;
}

// A private key block, BEGIN to END; one cut off (no END) is masked to the end of the text.
/** The last search for `-----END ` in one text: from where, and where it was found (-1: nowhere after `from`). */
interface EndSearch {
  from: number;
  found: number;
}
function checkPrivateKey(text: string, at: number, span: (start: number, end: number, kind: string) => void, endSearch: EndSearch): number {
  const labelStart = at + '-----BEGIN '.length;
  const labelEnd = text.indexOf('-----', labelStart);
  if (labelEnd < 0 || labelEnd - labelStart > 40) return labelStart;
  const label = text.slice(labelStart, labelEnd);
  if (!label.endsWith('PRIVATE KEY') && label !== 'PGP PRIVATE KEY BLOCK') return labelEnd;
  // One search for END serves every BEGIN before what it found (or, if none was found, after where it began).
  if (endSearch.from < 0 || (endSearch.found >= 0 && endSearch.found < labelEnd) || (endSearch.found < 0 && endSearch.from > labelEnd)) {
    endSearch.from = labelEnd;
    endSearch.found = text.indexOf('-----END ', labelEnd);
  }
  const found = endSearch.found;
  if (found < 0) {
    span(at, text.length, 'private_key');
    return text.length;
  }
  const close = text.indexOf('-----', found + '-----END '.length);
  const end = close < 0 || close - found > 60 ? text.length : close + 5;
  span(at, end, 'private_key');
  return end;
}

// scheme://user:password@host: the password (and only it) is masked.
const AUTHORITY_STOP = table('/?#@ \t\r\n"\'<>\\`');
function checkUrlPassword(text: string, at: number, span: (start: number, end: number, kind: string) => void): number {
  const start = at + 3;
  let i = start;
  let colon = -1;
  const stop = Math.min(text.length, start + 1024);
  for (; i < stop; i++) {
    const code = text.charCodeAt(i);
    if (code < 128 && AUTHORITY_STOP[code] === 1) break;
    if (code === 58 && colon < 0) colon = i;
  }
  if (text.charCodeAt(i) === 64 && colon > start && i > colon + 1) {
    const password = text.slice(colon + 1, i);
    if (!password.startsWith('[redacted:')) span(colon + 1, i, 'url_password');
  }
  return i;
}

// Authorization: Bearer <token> (header, curl -H, JSON field): the credential is masked, the scheme kept.
const SCHEMES = ['bearer', 'basic', 'token', 'digest', 'negotiate', 'apikey', 'aws4-hmac-sha256'];
const CREDENTIAL_STOP = table(' \t\r\n"\'`,;');
function checkAuthorization(text: string, from: number, span: (start: number, end: number, kind: string) => void): number {
  const skip = (at: number, chars: string, most: number): number => {
    let i = at;
    while (i < text.length && i - at < most && chars.includes(text[i]!)) i++;
    return i;
  };
  // `: `, `": "`, `=`, `='`: a colon or equals sign between a few quotes and spaces.
  let i = skip(from, '"\' \t', 3);
  if (text[i] !== ':' && text[i] !== '=') return from;
  i = skip(i + 1, '"\' \t', 3);
  const wordEnd = runEnd(text, i, TOKEN, 20);
  const scheme = SCHEMES.includes(text.slice(i, wordEnd).toLowerCase()) && text.charCodeAt(wordEnd) === 32;
  if (scheme) i = wordEnd + 1;
  let end = i;
  const stop = Math.min(text.length, i + 16384);
  while (end < stop && !(text.charCodeAt(end) < 128 && CREDENTIAL_STOP[text.charCodeAt(end)] === 1)) end++;
  // Without a scheme, only what looks like a credential (prose says "Authorization: required").
  const credential = scheme ? end - i >= 4 : end - i >= 16 && hasDigit(text, i, end);
  if (credential && !text.startsWith('[redacted:', i)) span(i, end, 'authorization');
  return end;
}

function checkAwsSecret(text: string, from: number, span: (start: number, end: number, kind: string) => void): number {
  let i = from;
  const stop = Math.min(text.length, from + 6);
  while (i < stop && ' \t"\':=>'.includes(text[i]!)) i++;
  const end = runEnd(text, i, BASE64, 41);
  if (end - i === 40 && hasDigit(text, i, end)) span(i, end, 'aws_secret_key');
  return end;
}

// --- Lines of an environment dump, .env files, `export NAME=value`, `NAME=value command` ----------------

const NAME_START = table('A-Za-z_');
function envSpans(text: string, span: (start: number, end: number, kind: string) => void): void {
  let at = text.indexOf('=');
  while (at >= 0) {
    let next = at + 1;
    // The name: the word just before `=` (each character before an `=` is read once: the next `=` stops it).
    let nameStart = at;
    while (nameStart > 0 && nameStart > at - 128 && inClass(WORD, text.charCodeAt(nameStart - 1))) nameStart--;
    const code = text.charCodeAt(at + 1);
    const precededBy = nameStart === 0 ? 10 : text.charCodeAt(nameStart - 1);
    // Not `==`, `=>`, nor part of a longer expression (a.b=, x[KEY]=): the name follows a line start, space or `;`.
    const standsAlone = precededBy === 10 || precededBy === 13 || precededBy === 32 || precededBy === 9 || precededBy === 59 || precededBy === 38;
    if (nameStart < at && code !== 61 && code !== 62 && standsAlone && inClass(NAME_START, text.charCodeAt(nameStart)) && isSecretName(text.slice(nameStart, at))) {
      const lineStart = lineStartsAt(text, nameStart);
      // At the start of a line (after `export ` or spaces) the value is the rest of the line; elsewhere it ends at a space.
      let end = at + 1;
      if (lineStart) while (end < text.length && text.charCodeAt(end) !== 10 && text.charCodeAt(end) !== 13) end++;
      else if (code === 34 || code === 39) {
        // A quoted value ends at its closing quote, on the same line, within 4 KiB.
        let close = at + 2;
        const stop = Math.min(text.length, at + 4096);
        while (close < stop && text.charCodeAt(close) !== code && text.charCodeAt(close) !== 10) close++;
        end = text.charCodeAt(close) === code ? close + 1 : at + 1;
      } else while (end < text.length && !(text.charCodeAt(end) < 128 && CREDENTIAL_STOP[text.charCodeAt(end)] === 1)) end++;
      let start = at + 1;
      // Quotes around the value stay, as do trailing spaces.
      while (end > start && (text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)) end--;
      if (end - start >= 2 && (text[start] === '"' || text[start] === "'") && text[end - 1] === text[start]) {
        start++;
        end--;
      }
      if (end > start && !text.startsWith('[redacted:', start)) {
        span(start, end, 'env_secret');
        next = end;
      }
    }
    at = text.indexOf('=', next);
  }
}

// Whether only spaces, tabs or `export ` stand between the line's start and `at`.
function lineStartsAt(text: string, at: number): boolean {
  let i = at;
  if (text.startsWith('export ', i - 7)) i -= 7;
  while (i > 0 && (text.charCodeAt(i - 1) === 32 || text.charCodeAt(i - 1) === 9) && at - i < 64) i--;
  return i === 0 || text.charCodeAt(i - 1) === 10 || text.charCodeAt(i - 1) === 13;
}

// --- Putting it together ----------------------------------------------------------------------------

/** Compiled REDACT_PATTERNS; throws on a pattern RE2 cannot compile (the message names it). */
export function compilePatterns(patterns: readonly RedactPattern[]): { kind: string; regex: RE2JS }[] {
  return patterns.map(({ kind, pattern }) => {
    try {
      return { kind, regex: RE2JS.compile(pattern) };
    } catch (err) {
      throw new Error(`REDACT_PATTERNS: cannot compile ${JSON.stringify(pattern)}: ${(err as Error).message}`, { cause: err });
    }
  });
}

/** The secrets of a text, as spans in order, overlapping ones merged (the earlier kind wins). */
function findSpans(text: string, patterns: readonly { kind: string; regex: RE2JS }[]): Span[] {
  const spans: Span[] = [];
  const span = (start: number, end: number, kind: string) => {
    if (end > start) spans.push({ start, end, kind });
  };
  const ends: EndSearch = { from: -1, found: -1 };
  for (const { literal, back = 0, first, next } of LITERALS) {
    // How far this detector has read: a candidate inside that is skipped, so no character is read twice by it.
    let readTo = 0;
    for (let found = text.indexOf(literal); found >= 0; found = text.indexOf(literal, found + 1)) {
      const at = found - back;
      if (at < readTo || at < 0) continue;
      if (first !== undefined && !first.includes(text[at]!)) continue;
      let end = found + literal.length;
      if (next !== undefined && !next.every((chars, i) => chars.includes(text[end + i] ?? '\u0000'))) continue;
      if (next !== undefined) end += next.length;
      readTo = checkAnchor(text, at, text.slice(at, end), span, ends);
      if (readTo - 1 > found) found = readTo - 1;
    }
  }
  if (text.includes('=')) envSpans(text, span);
  for (const { kind, regex } of patterns) {
    const matcher = regex.matcher(text);
    while (matcher.find()) {
      const start = matcher.start();
      const end = matcher.end();
      span(start, end, kind);
    }
  }
  if (spans.length < 2) return spans;
  // Where two detectors find the same text (a JWT in an Authorization header), the first in LITERALS names it.
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: Span[] = [spans[0]!];
  for (let i = 1; i < spans.length; i++) {
    const last = merged[merged.length - 1]!;
    const next = spans[i]!;
    if (next.start < last.end) last.end = Math.max(last.end, next.end);
    else merged.push(next);
  }
  return merged;
}

const MAX_PASSES = 4;
// Characters a token or key may hold: a mask next to one may have hidden a boundary.
const GLUE = table('A-Za-z0-9_+/-');

/** A masker with the built-in detectors and these patterns; `enabled: false` (REDACT=off) masks nothing. */
export function createMasker({ enabled = true, patterns = [] }: { enabled?: boolean; patterns?: readonly RedactPattern[] } = {}): Masker {
  const compiled = compilePatterns(patterns);
  const maskOnce = (text: string, kinds: Set<string>): { text: string; count: number; glued: boolean } => {
    const spans = findSpans(text, compiled);
    if (spans.length === 0) return { text, count: 0, glued: false };
    let out = '';
    let at = 0;
    let glued = false;
    for (const { start, end, kind } of spans) {
      out += text.slice(at, start) + marker(kind);
      kinds.add(kind);
      at = end;
      glued ||= (start > 0 && inClass(GLUE, text.charCodeAt(start - 1))) || (end < text.length && inClass(GLUE, text.charCodeAt(end)));
    }
    return { text: out + text.slice(at), count: spans.length, glued };
  };
  // A secret glued to another (AKIA…xoxb-…) stands on a word boundary only once the first is masked: where a
  // mask touches a character a token could hold, the masked text is scanned again, until nothing more is found
  // (a bounded number of times), so that masking what was masked changes nothing. Secrets set off by spaces,
  // quotes or line ends (nearly all) are found in one scan.
  const maskText = (text: string): MaskedText => {
    const kinds = new Set<string>();
    let result = maskOnce(text, kinds);
    if (result.count === 0) return { text, count: 0, kinds: [] };
    let count = result.count;
    for (let pass = 1; pass < MAX_PASSES && result.glued; pass++) {
      result = maskOnce(result.text, kinds);
      count += result.count;
    }
    return { text: result.text, count, kinds: [...kinds] };
  };

  const maskJson = <T>(value: T): Masked<T> => {
    let count = 0;
    const kinds = new Set<string>();
    const walk = (item: unknown, fieldName: string | null): unknown => {
      if (typeof item === 'string') {
        if (fieldName !== null && item !== '' && isSecretField(fieldName) && !item.startsWith('[redacted:')) {
          count++;
          kinds.add('secret_field');
          return marker('secret_field');
        }
        const masked = maskText(item);
        if (masked.count === 0) return item;
        count += masked.count;
        for (const kind of masked.kinds) kinds.add(kind);
        return masked.text;
      }
      if (Array.isArray(item)) {
        let copy: unknown[] | null = null;
        for (let i = 0; i < item.length; i++) {
          const next = walk(item[i], null);
          if (next !== item[i]) (copy ??= item.slice())[i] = next;
        }
        return copy ?? item;
      }
      if (item !== null && typeof item === 'object') {
        let copy: Record<string, unknown> | null = null;
        for (const key of Object.keys(item)) {
          const old = (item as Record<string, unknown>)[key];
          const next = walk(old, key);
          if (next !== old) (copy ??= { ...(item as Record<string, unknown>) })[key] = next;
        }
        return copy ?? item;
      }
      return item;
    };
    const masked = walk(value, null) as T;
    return { value: masked, count, kinds: [...kinds] };
  };

  if (!enabled) return { enabled, text: (text) => ({ text, count: 0, kinds: [] }), json: (value) => ({ value, count: 0, kinds: [] }) };
  return { enabled, text: maskText, json: maskJson };
}

// A JSON field whose name alone says secret (`"password": "…"`); a bare `key` or `token` names too much else
// (map keys, keyboard keys, tokenizer output) to mask on the name alone.
const isSecretField = (name: string): boolean => !['key', 'keys', 'token', 'tokens', 'pass', 'pwd'].includes(name.toLowerCase()) && isSecretName(name);

/** Masks one text with the built-in detectors only. */
const builtIn = createMasker();
export const maskText = (text: string): MaskedText => builtIn.text(text);
export const maskJson = <T>(value: T): Masked<T> => builtIn.json(value);

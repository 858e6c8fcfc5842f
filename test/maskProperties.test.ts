import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createMasker } from '../src/privacy/mask';

/**
 * Properties of the masker on texts stitched from secrets, their prefixes, near-misses and noise: whatever the
 * mix, masked text holds no secret of the corpus, masking it again changes nothing, and text without a
 * secret comes back as it was.
 */

const cases: { kind: string; secret: string }[] = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'secrets', 'cases.json'), 'utf8'));
const masker = createMasker();

const prefixes = [
  'AKIA',
  'ASIA',
  'ghp_',
  'github_pat_',
  'glpat-',
  'xoxb-',
  'hooks.slack.com/',
  'sk-',
  'sk-ant-',
  'eyJ',
  '-----BEGIN ',
  '://',
  'Authorization: ',
  '=',
  'SecretAccessKey": "',
  '\n',
  ' ',
  '"',
  '@',
  ':',
];
const fragment = fc.oneof(fc.constantFrom(...cases.map((c) => c.secret)), fc.constantFrom(...prefixes), fc.string({ maxLength: 30 }), fc.stringMatching(/^[A-Za-z0-9_-]{1,60}$/));
const stitched = fc.array(fragment, { maxLength: 40 }).map((parts) => parts.join(''));
// The same, each part set off by what separates words in output (a key glued to letters is not taken for one).
const separated = fc.array(fc.tuple(fragment, fc.constantFrom(' ', '\n', '"', "'", ', ', '\t')), { maxLength: 40 }).map((parts) => parts.flat().join(''));

describe('the masker', () => {
  it('leaves no secret of the corpus standing, whatever stands around it', () => {
    fc.assert(
      fc.property(separated, (text) => {
        const masked = masker.text(text).text;
        // A URL password is one only where a URL holds it; the env value only after its name.
        for (const { kind, secret } of cases)
          if (!['url_password', 'env_secret', 'authorization', 'aws_secret_key'].includes(kind) && text.includes(secret)) expect(masked).not.toContain(secret);
      }),
      { numRuns: 500 },
    );
  });

  it('changes nothing the second time', () => {
    fc.assert(
      fc.property(stitched, (text) => {
        const once = masker.text(text);
        const twice = masker.text(once.text);
        expect(twice.text).toBe(once.text);
        expect(twice.count).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('returns text without any prefix or `=` as it was', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }).filter((text) => !prefixes.some((p) => p.trim() !== '' && text.includes(p.trim())) && !/eyj|authorization|secret/i.test(text)),
        (text) => {
          expect(masker.text(text)).toEqual({ text, count: 0, kinds: [] });
        },
      ),
      { numRuns: 500 },
    );
  });
});

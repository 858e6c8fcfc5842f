#!/usr/bin/env node
// Compiles src/ to dist/ when, and only when, the sources changed since the last build: run by `npm install`
// (the root package's `prepare`, which npm 11 runs) and before `npm start` (`prestart`), so that a restart
// starts at once instead of recompiling. Changed means: a different hash of src/**/*.ts and the tsconfig
// files than the one dist/.build-hash recorded. `--force` compiles regardless.
// Where there is nothing to compile (an installed package ships dist/ without src/; a Docker layer before
// src/ is copied) it does nothing.
'use strict';

const { createHash } = require('node:crypto');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const SRC = path.join(ROOT, 'src');
const DIST = path.join(ROOT, 'dist');
const STAMP = path.join(DIST, '.build-hash');

function sourcesHash() {
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) files.push(full);
    }
  };
  walk(SRC);
  files.push(path.join(ROOT, 'tsconfig.json'), path.join(ROOT, 'tsconfig.build.json'));
  const hash = createHash('sha256');
  for (const file of files.sort()) {
    hash.update(path.relative(ROOT, file));
    hash.update('\0');
    hash.update(fs.existsSync(file) ? fs.readFileSync(file) : '');
    hash.update('\0');
  }
  return hash.digest('hex');
}

function main() {
  if (!fs.existsSync(SRC)) return 0;
  const hash = sourcesHash();
  const current = fs.existsSync(STAMP) && fs.existsSync(path.join(DIST, 'main.js')) ? fs.readFileSync(STAMP, 'utf8').trim() : '';
  if (current === hash && !process.argv.includes('--force')) return 0;
  let tsc;
  try {
    tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  } catch {
    // `npm install --omit=dev`: no compiler. A dist/ already there is used as it is.
    if (fs.existsSync(path.join(DIST, 'main.js'))) {
      process.stderr.write('build: TypeScript is not installed (--omit=dev?); using dist/ as it is\n');
      return 0;
    }
    process.stderr.write('build: dist/ is missing and TypeScript is not installed: run `npm install` (with dev dependencies)\n');
    return 1;
  }
  const started = Date.now();
  process.stderr.write(`build: ${current ? 'sources changed' : 'no build yet'}, compiling src/ → dist/ …\n`);
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) return result.status ?? 1;
  fs.writeFileSync(STAMP, `${hash}\n`);
  process.stderr.write(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

process.exitCode = main();

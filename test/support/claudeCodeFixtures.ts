import fs from 'node:fs';
import path from 'node:path';

export const FIXTURES_DIR = path.join(__dirname, '..', 'fixtures', 'claude-code');

/**
 * The hook inputs of one recorded run (a folder of test/fixtures/claude-code), in order, moved into a
 * session of the caller's choosing so that each test makes its own data.
 */
export function recordedHooks(run: string, sessionId: string): Record<string, any>[] {
  const dir = path.join(FIXTURES_DIR, run);
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => ({ ...JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')), session_id: sessionId }));
}

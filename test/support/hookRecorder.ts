import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface HookRecorder {
  /** Point hooks here: each body is saved, then passed on to the target and its answer passed back. */
  url: string;
  close(): Promise<void>;
}

/**
 * Records the hook inputs Claude Code sends, one file per hook in arrival order (`01-UserPromptSubmit.json`,
 * …) under `dir`, on their way to `target`: how test/fixtures/claude-code was made.
 */
export async function startHookRecorder(dir: string, target: string): Promise<HookRecorder> {
  fs.mkdirSync(dir, { recursive: true });
  let count = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        const name = String(JSON.parse(body).hook_event_name ?? 'hook').replace(/[^\w-]/g, '_');
        fs.writeFileSync(path.join(dir, `${String(++count).padStart(2, '0')}-${name}.json`), `${JSON.stringify(JSON.parse(body), null, 2)}\n`);
      } catch {
        // Not JSON: passed on as it is, for the server to refuse.
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([key]) => ['content-type', 'authorization', 'x-capture-id'].includes(key))) as Record<string, string>;
      const answer = await fetch(target, { method: 'POST', headers, body });
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      res.end(await answer.text());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

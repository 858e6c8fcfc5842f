import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { apiClient } from './support/http';
import { createDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

// These tests run the compiled server (built by globalSetup) as `npm start` does: a real process, real signals.
const ROOT = path.join(__dirname, '..');

interface ServerProcess {
  child: ChildProcess;
  baseUrl: string;
  output: () => string;
}

function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const listening = output.split('\n').find((line) => line.includes('"msg":"listening"'));
      const match = listening && /"urls":\["(http:\/\/[^"]+)"/.exec(listening);
      if (match) {
        clearTimeout(timer);
        resolve({ child, baseUrl: match[1]!, output: () => output });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
  });
}

function stopServer(server: ServerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  return new Promise((resolve) => {
    server.child.once('exit', (code) => resolve(code));
    server.child.kill(signal);
  });
}

describe('the compiled server', () => {
  it('with DATABASE_URL: answers the contract sequence, and on SIGTERM closes WebSockets with 1001 and exits 0', async () => {
    const database = await createDatabase({ empty: true });
    try {
      const server = await startServer({ DATABASE_URL: database.url });
      const api = apiClient(server.baseUrl);
      const client = await WsClient.connect(`${server.baseUrl.replace('http', 'ws')}/ws`);

      expect((await api.post('/sessions', { session_id: 'test-123', session_name: 'test', project_dir: '/tmp' })).status).toBe(201);
      expect((await api.get('/sessions/test-123')).body.session).toMatchObject({ session_id: 'test-123', status: 'running' });
      expect((await api.get('/sessions/test-123/status')).body).toEqual({ status: 'running' });
      const event = {
        event_type: 'message',
        session_id: 'test-123',
        session_name: 'test',
        timestamp: '2024-01-01T00:00:00Z',
        role: 'assistant',
        content: [{ type: 'text', text: 'Hello' }],
      };
      expect((await api.post('/sessions/test-123/events', event)).status).toBe(201);
      expect(await api.get('/sessions/test-123/result')).toMatchObject({ status: 400, body: { detail: 'Session not finished' } });
      await api.post('/sessions/test-123/events', { event_type: 'session_stop' });
      expect((await api.get('/sessions/test-123/status')).body).toEqual({ status: 'finished' });
      expect(await api.get('/sessions/test-123/result')).toMatchObject({ status: 200, body: { result: 'Hello' } });
      expect((await client.waitForLive(4)).map((message) => message.type)).toEqual(['session_created', 'event', 'event', 'session_updated']);

      const exitCode = stopServer(server);
      expect(await client.waitForClose()).toBe(1001);
      expect(await exitCode).toBe(0);
      expect(server.output()).toContain('"msg":"stopped"');
    } finally {
      await database.drop();
    }
  });

  it('without DATABASE_URL: starts an embedded PostgreSQL under DATA_DIR, keeps the data between runs, and stops it on exit', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'asm-start-'));
    // As root the embedded server runs as the postgres user, which must be able to enter the directory.
    await chmod(dataDir, 0o755);
    try {
      const firstRun = await startServer({ DATA_DIR: dataDir });
      expect((await apiClient(firstRun.baseUrl).post('/sessions', { session_id: 'kept', session_name: 'kept' })).status).toBe(201);
      expect(await stopServer(firstRun, 'SIGINT')).toBe(0);
      expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);

      const secondRun = await startServer({ DATA_DIR: dataDir });
      expect((await apiClient(secondRun.baseUrl).get('/sessions/kept')).body.session.session_name).toBe('kept');
      expect(await stopServer(secondRun)).toBe(0);
      expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('npm run migrate brings an empty database up to date', async () => {
    const database = await createDatabase({ empty: true });
    try {
      execFileSync(process.execPath, ['dist/migrateCommand.js'], { cwd: ROOT, env: { PATH: process.env.PATH, DATABASE_URL: database.url }, stdio: 'pipe' });
      const { rows } = await database.query("select count(*)::int as n from pg_tables where tablename in ('sessions', 'events', 'changes')");
      expect(rows[0].n).toBe(3);
    } finally {
      await database.drop();
    }
  });
});

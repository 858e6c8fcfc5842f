import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { runCli, type CliIo } from '../src/cli';
import { apiClient, sessionPath } from './support/http';
import { startInstance, useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { waitUntil } from './support/waitUntil';
import { WsClient } from './support/wsClient';

// Keys in PostgreSQL, on two instances of one database: the first has WebSocket clients, the second none (its
// listener then reads only the key changes of the log). Tests run in order: until the first key is created,
// the server requires none.

const database = useTestDatabase();
// No periodic write of last_used_at during the file: the test of it flushes by hand.
const { instances } = useInstance(database, {}, { count: 2, keyUpkeepMs: 24 * 60 * 60 * 1000 });
const [a, b] = instances as [(typeof instances)[0], (typeof instances)[0]];
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const KEY_FORMAT = /^asm_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;
const keys: Record<string, string> = {};

async function cli(argv: string[], env: NodeJS.ProcessEnv) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { readStdin: async () => '', env, cwd: process.cwd(), out: (line) => out.push(line), err: (line) => err.push(line), cliPath: '/opt/asm/dist/cli.js' };
  const code = await runCli(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('before any key exists', () => {
  it('when neither API_KEYS nor a key exists, then every route answers without a key, as before', async () => {
    expect((await a.api.post('/sessions', { session_id: 'open-1', session_name: 'open' })).status).toBe(201);
    expect((await b.api.get('/sessions/open-1')).status).toBe(200);
    expect((await a.api.get('/me')).body).toEqual({ key: null, scopes: ['ingest', 'read', 'decide', 'admin'], keys_required: false });
    const client = await WsClient.connect(a.wsUrl);
    expect(client.init.type).toBe('init');
    client.close();
  });

  it('when the first key is created, then it is shown once with its prefix, only its digest is stored, and every instance requires a key', async () => {
    const created = await a.api.post('/keys', { name: 'ops-admin', scopes: ['admin', 'read'] });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(KEY_FORMAT);
    expect(created.body.key).toEqual({
      name: 'ops-admin',
      scopes: ['admin', 'read'],
      prefix: created.body.secret.slice(0, 20),
      source: 'database',
      created_at: expect.any(String),
      last_used_at: null,
      revoked_at: null,
    });
    keys.admin = created.body.secret;
    const secret = keys.admin!.slice(21);
    const { rows } = await database.query('select id, name, scopes, secret_sha256 from api_keys');
    expect(rows).toEqual([{ id: keys.admin!.slice(4, 20), name: 'ops-admin', scopes: ['admin', 'read'], secret_sha256: createHash('sha256').update(secret).digest() }]);
    const everything = JSON.stringify((await database.query('select * from api_keys')).rows);
    expect(everything).not.toContain(secret);
    // The other instance learns from the change log, though it has no WebSocket client to relay to.
    await waitUntil(async () => (await b.api.get('/sessions/open-1')).status === 401, 'the other instance requires a key');
    expect((await a.api.get('/sessions/open-1')).status).toBe(401);
    expect((await b.api.get('/sessions/open-1', bearer(keys.admin!))).status).toBe(200);
    expect((await b.api.get('/me', bearer(keys.admin!))).body).toEqual({ key: 'ops-admin', scopes: ['admin', 'read'], keys_required: true });
  });
});

describe('keys through the REST resource', () => {
  it('when keys are listed, then no secret is shown; a key of each name at a time; bad input is named', async () => {
    const hooks = await a.api.post('/keys', { name: 'laptop-hooks', scopes: ['ingest'] }, bearer(keys.admin!));
    expect(hooks.status).toBe(201);
    keys.hooks = hooks.body.secret;
    const list = await a.api.get('/keys', bearer(keys.admin!));
    expect(list.status).toBe(200);
    expect(list.body.keys.map((key: { name: string }) => key.name)).toEqual(['ops-admin', 'laptop-hooks']);
    expect(JSON.stringify(list.body)).not.toContain(keys.hooks!.slice(21));
    expect(JSON.stringify(list.body)).not.toContain('secret');

    expect(await a.api.post('/keys', { name: 'laptop-hooks', scopes: ['read'] }, bearer(keys.admin!))).toMatchObject({
      status: 409,
      body: { detail: 'A key named laptop-hooks exists; revoke it first or choose another name' },
    });
    const bad = await a.api.post('/keys', { name: 'has space', scopes: ['write', 'read'] }, bearer(keys.admin!));
    expect(bad.status).toBe(422);
    expect(bad.body.detail.map((field: { loc: unknown[] }) => field.loc)).toEqual([
      ['body', 'name'],
      ['body', 'scopes', 0],
    ]);
    expect((await a.api.post('/keys', { name: 'env-9', scopes: ['read'] }, bearer(keys.admin!))).body.detail[0].msg).toMatch(/names of the keys of API_KEYS/);
    expect((await a.api.post('/keys', { name: 'none', scopes: [] }, bearer(keys.admin!))).status).toBe(422);
    expect(await a.api.delete('/keys/nobody', bearer(keys.admin!))).toMatchObject({ status: 404, body: { detail: 'Key not found' } });
    // Keys are an admin's business.
    expect(await a.api.get('/keys', bearer(keys.hooks!))).toMatchObject({ status: 403, body: { detail: 'Missing scope: admin' } });
  });

  it('when a key is revoked, then every instance refuses it within a moment, its WebSockets are closed, and other keys go on', async () => {
    const reader = (await a.api.post('/keys', { name: 'dashboard', scopes: ['read'] }, bearer(keys.admin!))).body.secret;
    const other = (await a.api.post('/keys', { name: 'wall-screen', scopes: ['read'] }, bearer(keys.admin!))).body.secret;
    await waitUntil(async () => (await b.api.get('/sessions', bearer(reader))).status === 200, 'the other instance takes the new key');
    const onA = await WsClient.connect(`${a.wsUrl}?api_key=${reader}`);
    const onB = await WsClient.connect(`${b.wsUrl}?api_key=${reader}`);
    const otherOnA = await WsClient.connect(`${a.wsUrl}?api_key=${other}`);

    const revoked = await a.api.delete('/keys/dashboard', bearer(keys.admin!));
    const at = Date.now();
    expect(revoked).toMatchObject({ status: 200, body: { ok: true, key: { name: 'dashboard', revoked_at: expect.any(String) } } });
    expect((await a.api.get('/sessions', bearer(reader))).status).toBe(401);
    await waitUntil(async () => (await b.api.get('/sessions', bearer(reader))).status === 401, 'the other instance refuses the revoked key');
    const refusedAfterMs = Date.now() - at;
    expect(await onA.waitForClose()).toBe(1008);
    expect(await onB.waitForClose()).toBe(1008);
    expect(onB.socket.readyState).toBe(onB.socket.CLOSED);
    // The clients of the other key stay, and are told that the keys changed (no key in it).
    await otherOnA.waitFor((messages) => messages.some((message) => message.type === 'keys_changed'));
    const told = otherOnA.messages.filter((message) => message.type === 'keys_changed');
    expect(told.every((message) => Object.keys(message).sort().join() === 'seq,type')).toBe(true);
    expect(otherOnA.closeCode).toBeUndefined();
    otherOnA.close();
    // The name is free again; the revoked row stays in the list.
    expect((await a.api.post('/keys', { name: 'dashboard', scopes: ['read'] }, bearer(keys.admin!))).status).toBe(201);
    const names = (await a.api.get('/keys', bearer(keys.admin!))).body.keys.map(
      (key: { name: string; revoked_at: string | null }) => `${key.name}${key.revoked_at ? ' (revoked)' : ''}`,
    );
    expect(names).toEqual(['ops-admin', 'laptop-hooks', 'dashboard (revoked)', 'wall-screen', 'dashboard']);
    process.stdout.write(`revoked key refused by the other instance ${refusedAfterMs} ms after the revoke answered\n`);
  });

  it('when keys are used, then last_used_at is written by the periodic flush, not per request', async () => {
    for (let i = 0; i < 20; i++) await b.api.get('/sessions/open-1', bearer(keys.admin!));
    const before = await database.query("select last_used_at from api_keys where name = 'ops-admin'");
    expect(before.rows[0].last_used_at).toBeNull();
    await b.service.keyring.flushUses();
    const after = await database.query("select last_used_at from api_keys where name = 'ops-admin'");
    expect(after.rows[0].last_used_at).toBeInstanceOf(Date);
    // Writing it is not a change of the keys: nothing in the log for it.
    const logged = await database.query("select count(*)::int as n from changes where kind = 'keys_changed' and created_at >= $1", [after.rows[0].last_used_at]);
    expect(logged.rows[0].n).toBe(0);
    expect((await a.api.get('/keys', bearer(keys.admin!))).body.keys[0].last_used_at).toBe(after.rows[0].last_used_at.toISOString());
  });
});

describe('API_KEYS', () => {
  it('when API_KEYS is set, then its keys are admin keys named env-1, env-2, listed but not revocable, and the database keys work beside them', async () => {
    const withEnv = await startInstance(database.url, { apiKeys: ['first-env-key', 'second-env-key'] });
    const api = withEnv.api;
    expect((await api.get('/me', bearer('second-env-key'))).body).toEqual({ key: 'env-2', scopes: ['ingest', 'read', 'decide', 'admin'], keys_required: true });
    const listed = (await api.get('/keys', bearer('first-env-key'))).body.keys;
    expect(listed.slice(0, 2)).toEqual([
      { name: 'env-1', scopes: ['ingest', 'read', 'decide', 'admin'], prefix: null, source: 'environment', created_at: null, last_used_at: null, revoked_at: null },
      { name: 'env-2', scopes: ['ingest', 'read', 'decide', 'admin'], prefix: null, source: 'environment', created_at: null, last_used_at: null, revoked_at: null },
    ]);
    expect(JSON.stringify(listed)).not.toContain('env-key');
    expect((await api.delete('/keys/env-1', bearer('first-env-key'))).status).toBe(422);
    expect((await api.post(sessionPath('open-1', '/events'), { event_type: 'x' }, bearer(keys.hooks!))).status).toBe(201);
    expect((await api.get('/sessions', bearer('nope'))).status).toBe(401);
  });
});

describe('the audit trail', () => {
  it('when sessions are deleted and keys created and revoked, then each is recorded with the name of the key that did it, newest first, in pages', async () => {
    await b.api.post('/sessions', { session_id: 'audited', session_name: 'x' }, bearer(keys.hooks!));
    await b.api.post(sessionPath('audited', '/events'), { event_type: 'message' }, bearer(keys.hooks!));
    expect((await b.api.delete(sessionPath('audited'), bearer(keys.hooks!))).status).toBe(403);
    expect((await b.api.delete(sessionPath('audited'), bearer(keys.admin!))).status).toBe(200);
    const first = await b.api.get('/audit?limit=2', bearer(keys.admin!));
    expect(first.status).toBe(200);
    expect(first.body.entries).toEqual([
      { id: expect.any(Number), at: expect.any(String), key: 'ops-admin', action: 'session.delete', target: 'audited', details: { events_count: 1 } },
      {
        id: expect.any(Number),
        at: expect.any(String),
        key: 'ops-admin',
        action: 'key.create',
        target: 'dashboard',
        details: { scopes: ['read'], prefix: expect.stringMatching(/^asm_/) },
      },
    ]);
    const rest = await b.api.get(`/audit?cursor=${first.body.next_cursor}&limit=1000`, bearer(keys.admin!));
    const trail = [...first.body.entries, ...rest.body.entries].map(
      (entry: { key: string | null; action: string; target: string }) => `${entry.key ?? '-'} ${entry.action} ${entry.target}`,
    );
    expect(trail).toEqual([
      'ops-admin session.delete audited',
      'ops-admin key.create dashboard',
      'ops-admin key.revoke dashboard',
      'ops-admin key.create wall-screen',
      'ops-admin key.create dashboard',
      'ops-admin key.create laptop-hooks',
      // Made while the server required no key: by nobody in particular.
      '- key.create ops-admin',
    ]);
    expect(rest.body.next_cursor).toBeNull();
    expect((await b.api.get('/audit', bearer(keys.hooks!))).status).toBe(403);
    expect((await b.api.get('/audit?limit=0', bearer(keys.admin!))).status).toBe(422);
  });
});

describe('the keys command', () => {
  it('when keys are created, listed and revoked with the CLI, then it goes through the server with the admin key and prints the key alone', async () => {
    const env = { ASM_URL: a.baseUrl, ASM_API_KEY: keys.admin };
    const created = await cli(['keys', 'create', '--name', 'ci-runner', '--scope', 'ingest', '--scope=read'], env);
    expect(created.code).toBe(0);
    expect(created.out).toMatch(KEY_FORMAT);
    expect(created.err).toMatch(/^Created the key ci-runner \(ingest, read\)\. It is shown this once/);
    expect((await apiClient(a.baseUrl).get('/me', bearer(created.out))).body.scopes).toEqual(['ingest', 'read']);

    const listed = await cli(['keys', 'list'], env);
    expect(listed.code).toBe(0);
    expect(listed.out.split('\n')[0]).toMatch(/^NAME +SCOPES +KEY +CREATED +LAST USED +REVOKED$/);
    expect(listed.out).toMatch(/\nci-runner +ingest,read +asm_[0-9a-f]{16}_… +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +- +-/);
    expect(listed.out).not.toContain(created.out.slice(21));
    expect(JSON.parse((await cli(['keys', 'list', '--json'], env)).out).map((key: { name: string }) => key.name)).toContain('ci-runner');

    expect(await cli(['keys', 'revoke', 'ci-runner'], env)).toMatchObject({ code: 0, out: expect.stringMatching(/^Revoked the key ci-runner \(asm_[0-9a-f]{16}_…\)/) });
    expect((await apiClient(a.baseUrl).get('/me', bearer(created.out))).status).toBe(401);
  });

  it('when the CLI is refused or misused, then it says why and exits non-zero', async () => {
    expect(await cli(['keys', 'list'], { ASM_URL: a.baseUrl })).toMatchObject({
      code: 1,
      err: expect.stringContaining('answered 401: Not authenticated (set ASM_API_KEY to an admin key)'),
    });
    expect(await cli(['keys', 'list'], { ASM_URL: a.baseUrl, ASM_API_KEY: keys.hooks })).toMatchObject({
      code: 1,
      err: expect.stringContaining('answered 403: Missing scope: admin'),
    });
    expect(await cli(['keys', 'create', '--name', 'x'], { ASM_URL: a.baseUrl, ASM_API_KEY: keys.admin })).toMatchObject({
      code: 1,
      err: expect.stringContaining('needs --name NAME and at least one --scope'),
    });
    expect(await cli(['keys', 'create', '--name', 'x', '--scope', 'write'], { ASM_URL: a.baseUrl, ASM_API_KEY: keys.admin })).toMatchObject({
      code: 1,
      err: expect.stringContaining('answered 422: scopes.0: Expected one of `"ingest","read","decide","admin"`'),
    });
    expect(await cli(['keys', 'rotate'], {})).toMatchObject({ code: 2, err: expect.stringContaining('usage: agent-session-manager keys') });
    expect(await cli(['keys', 'list', '--verbose'], {})).toMatchObject({ code: 1, err: expect.stringContaining('unknown option --verbose') });
  });

  it('when the built CLI creates a key, then stdout holds the key and nothing else', async () => {
    const cliPath = path.join(__dirname, '..', 'dist', 'cli.js');
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [cliPath, 'keys', 'create', '--name', 'from-shell', '--scope', 'read'], {
        env: { PATH: process.env.PATH, ASM_URL: b.baseUrl, ASM_API_KEY: keys.admin },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^${KEY_FORMAT.source.slice(1, -1)}\\n$`));
    expect(result.stderr).toContain('shown this once');
  });
});

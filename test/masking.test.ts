import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { logsRequest } from './otlpRequests';
import { sessionPath } from './support/http';
import { startInstance, useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

/**
 * Secrets are masked before they are stored (issue 22): each kind, inside a large realistic tool output, sent
 * through the REST API, a Claude Code hook and OTLP, reads back masked from every reader (events, search,
 * export, the WebSocket); the text around it (hashes, UUIDs, git SHAs, base64 images) is stored exactly as sent.
 */

const FIXTURES = path.join(__dirname, 'fixtures', 'secrets');
interface Case {
  kind: string;
  secret: string;
  template: string;
}
const cases: Case[] = JSON.parse(readFileSync(path.join(FIXTURES, 'cases.json'), 'utf8'));
const nearMisses = readFileSync(path.join(FIXTURES, 'near-misses.txt'), 'utf8');

// About 200 KB of a realistic session's output, with the case's lines in the middle.
const output = (middle: string) => `${nearMisses.repeat(6)}${middle}${nearMisses.repeat(6)}`;
const sent = (c: Case) => output(c.template.replace('{{SECRET}}', c.secret));
const stored = (c: Case) => output(c.template.replace('{{SECRET}}', `[redacted:${c.kind}]`));
// A part of the secret that search can look for (search takes up to 200 characters of text).
const probe = (c: Case) => c.secret.replace(/\s+/g, ' ').slice(0, 24);

const database = useTestDatabase();
const { instance: server, api } = useInstance(database, { redactPatterns: [{ kind: 'acme_ticket', pattern: 'ACME-[0-9]{8}' }] });

async function newSession(name = 'masking'): Promise<string> {
  const id = `mask-${randomUUID()}`;
  expect((await api.post('/sessions', { session_id: id, session_name: name })).status).toBe(201);
  return id;
}

const text = (value: string) => [{ type: 'text', text: value }];
const eventsOf = async (id: string) => (await api.get(sessionPath(id, '/events'))).body.events as any[];
const redactionsOf = async (id: string) =>
  (await database.query<{ redactions: number }>('select redactions from events where session_id = $1 order by id', [id])).rows.map((row) => row.redactions);

describe('masking through POST /sessions/{id}/events', () => {
  it.each(cases.map((c) => [`${c.kind}: ${c.secret.slice(0, 16)}`, c] as const))('masks %s inside a large output, and only it', async (_name, c) => {
    const id = await newSession();
    const reply = await api.post(sessionPath(id, '/events'), { event_type: 'post_tool', tool_name: 'Bash', tool_input: { command: 'run' }, tool_output: sent(c) });
    expect(reply.status).toBe(201);
    // The answer, a page and an export all hold the masked text exactly: nothing else in the output changed.
    expect(reply.body.event.tool_output).toBe(stored(c));
    const [event] = await eventsOf(id);
    expect(event.tool_output).toBe(stored(c));
    const exported = await (await fetch(`${server.baseUrl}${sessionPath(id, '/export?format=ndjson')}`)).text();
    expect(exported).toContain(`[redacted:${c.kind}]`);
    expect(exported).not.toContain(probe(c));
    expect(await redactionsOf(id)).toEqual([1]);
    // Search finds the event by the text around the secret, never by the secret.
    expect((await api.get(`/search?session_id=${encodeURIComponent(id)}&q=${encodeURIComponent(probe(c))}`)).body.results).toEqual([]);
  });

  it('stores realistic output without secrets exactly as sent: hashes, UUIDs, git SHAs, base64 images, code', async () => {
    const id = await newSession();
    const big = output('');
    await api.post(sessionPath(id, '/events'), { event_type: 'post_tool', tool_name: 'Bash', tool_output: big, tool_input: { command: nearMisses } });
    const [event] = await eventsOf(id);
    expect(event.tool_output).toBe(big);
    expect(event.tool_input).toEqual({ command: nearMisses });
    expect(await redactionsOf(id)).toEqual([0]);
  });

  it('masks every field and nested value, and fields whose name says secret, counting each', async () => {
    const id = await newSession();
    const github = cases.find((c) => c.kind === 'github_token')!.secret;
    const jwt = cases.find((c) => c.kind === 'jwt')!.secret;
    const reply = await api.post(sessionPath(id, '/events'), {
      event_type: 'message',
      role: 'user',
      content: [{ type: 'text', text: `use ${github} please` }],
      tool_input: { env: { DB_PASSWORD: 'hunter2hunter2', PATH: '/usr/bin' }, headers: [`Authorization: Bearer ${jwt}`] },
      error: `request with ${jwt} failed`,
      reason: `token ${github}`,
    });
    expect(reply.status).toBe(201);
    const [event] = await eventsOf(id);
    expect(event.content).toEqual([{ type: 'text', text: 'use [redacted:github_token] please' }]);
    expect(event.tool_input).toEqual({ env: { DB_PASSWORD: '[redacted:secret_field]', PATH: '/usr/bin' }, headers: ['Authorization: Bearer [redacted:jwt]'] });
    expect(event.error).toBe('request with [redacted:jwt] failed');
    expect(event.reason).toBe('token [redacted:github_token]');
    expect(await redactionsOf(id)).toEqual([5]);
  });

  it('masks REDACT_PATTERNS matches as their kind', async () => {
    const id = await newSession();
    await api.post(sessionPath(id, '/events'), { event_type: 'message', role: 'assistant', content: [{ type: 'text', text: 'Filed ACME-20261207 and ACME-1234 (too short).' }] });
    expect((await eventsOf(id))[0].content).toEqual([{ type: 'text', text: 'Filed [redacted:acme_ticket] and ACME-1234 (too short).' }]);
  });

  it('masks batches and the deprecated POST /events', async () => {
    const id = await newSession();
    const slack = cases.find((c) => c.kind === 'slack_token')!.secret;
    expect(
      (
        await api.post(sessionPath(id, '/events/batch'), {
          events: [
            { event_type: 'message', role: 'user', content: text(slack) },
            { event_type: 'message', role: 'user', content: text('plain') },
          ],
        })
      ).status,
    ).toBe(201);
    const legacyId = `mask-${randomUUID()}`;
    expect((await api.post('/events', { session_id: legacyId, session_name: `name ${slack}`, event_type: 'message', role: 'user', content: text(slack) })).status).toBe(200);
    expect((await eventsOf(id)).map((event) => event.content)).toEqual([text('[redacted:slack_token]'), text('plain')]);
    const [legacy] = await eventsOf(legacyId);
    expect(legacy.content).toEqual(text('[redacted:slack_token]'));
    expect((await api.get(sessionPath(legacyId))).body.session.session_name).toBe('name [redacted:slack_token]');
  });

  it('masks session names and fields on create and update', async () => {
    const key = cases.find((c) => c.kind === 'anthropic_key')!.secret;
    const id = `mask-${randomUUID()}`;
    await api.post('/sessions', { session_id: id, session_name: `try ${key}`, agent_name: key, project_dir: '/work' });
    expect((await api.get(sessionPath(id))).body.session).toMatchObject({
      session_name: 'try [redacted:anthropic_key]',
      agent_name: '[redacted:anthropic_key]',
      project_dir: '/work',
    });
    await api.patch(sessionPath(id), { session_name: `again ${key}` });
    expect((await api.get(sessionPath(id))).body.session.session_name).toBe('again [redacted:anthropic_key]');
    // Its events take the masked name, and do not count its mask as theirs.
    await api.post(sessionPath(id, '/events'), { event_type: 'message', role: 'user', content: text('hello') });
    expect((await eventsOf(id))[0].session_name).toBe('again [redacted:anthropic_key]');
    expect(await redactionsOf(id)).toEqual([0]);
  });
});

describe('masking of Claude Code hooks and OTLP', () => {
  it('masks tool input, tool response and the raw hook input; the WebSocket never carries the secret', async () => {
    const ws = await WsClient.connect(server.wsUrl);
    try {
      const c = cases.find((x) => x.kind === 'private_key')!;
      const token = cases.find((x) => x.kind === 'github_token')!.secret;
      const sessionId = randomUUID();
      const hook = {
        session_id: sessionId,
        transcript_path: '/tmp/t.jsonl',
        cwd: '/home/dev/project',
        hook_event_name: 'PostToolUse',
        tool_name: 'Bash',
        tool_use_id: 'toolu_mask_1',
        tool_input: { command: `cd /app && GITHUB_TOKEN=${token} ./deploy.sh` },
        tool_response: { stdout: sent(c), stderr: '', interrupted: false },
        extra_field: `note ${token}`,
      };
      expect((await api.post('/hooks/claude-code', hook)).status).toBe(200);
      const [event] = await eventsOf(sessionId);
      const all = JSON.stringify(event);
      expect(all).not.toContain(token);
      expect(all).not.toContain('b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ');
      expect(event.tool_input.command).toBe('cd /app && GITHUB_TOKEN=[redacted:github_token] ./deploy.sh');
      expect(JSON.stringify(event.tool_output)).toContain('[redacted:private_key]');
      expect(JSON.stringify(event.hook_input)).toContain('note [redacted:github_token]');
      // The same hook sent again is the same event: its key comes from the input as sent.
      expect((await api.post('/hooks/claude-code', hook)).status).toBe(200);
      expect(await eventsOf(sessionId)).toHaveLength(1);
      const messages = await ws.waitFor((all) => all.some((m) => m.type === 'event' && m.data?.session_id === sessionId));
      const relayed = JSON.stringify(messages.filter((m) => JSON.stringify(m).includes(sessionId)));
      expect(relayed).not.toContain(token);
      expect(relayed).toContain('[redacted:');
    } finally {
      ws.close();
    }
  });

  it("masks an OTLP tool result's error", async () => {
    const id = await newSession();
    const url = cases.find((c) => c.kind === 'url_password')!;
    const reply = await fetch(`${server.baseUrl}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        logsRequest([
          {
            body: 'claude_code.tool_result',
            attributes: {
              'session.id': id,
              tool_use_id: 'toolu_otlp_mask',
              tool_name: 'Bash',
              success: 'false',
              error: sent(url).slice(-2000) + url.template.replace('{{SECRET}}', url.secret),
            },
          },
        ]),
      ),
    });
    expect(reply.status).toBe(200);
    const results = (await api.get(sessionPath(id, '/tool-results'))).body.tool_results;
    expect(results).toHaveLength(1);
    expect(results[0].error).toContain('postgres://deploy:[redacted:url_password]@db.internal');
    expect(results[0].error).not.toContain(url.secret);
  });
});

describe('REDACT=off', () => {
  it('stores every byte as sent', async () => {
    const instance = await startInstance(database.url, { redact: false });
    const c = cases.find((x) => x.kind === 'openai_key')!;
    const id = `plain-${randomUUID()}`;
    await instance.api.post('/sessions', { session_id: id, session_name: 'plain' });
    await instance.api.post(sessionPath(id, '/events'), { event_type: 'post_tool', tool_output: sent(c) });
    expect((await instance.api.get(sessionPath(id, '/events'))).body.events[0].tool_output).toBe(sent(c));
  });
});

describe('configuration', () => {
  it('masks unless REDACT turns it off by name; a typo is refused rather than read as off', () => {
    expect(loadConfig({}).redact).toBe(true);
    expect(loadConfig({ REDACT: 'off' }).redact).toBe(false);
    expect(loadConfig({ REDACT: 'on' }).redact).toBe(true);
    expect(() => loadConfig({ REDACT: 'of' })).toThrow(/REDACT/);
  });

  it('reads REDACT_PATTERNS as a JSON array of RE2 patterns, and names the variable for a bad one', () => {
    expect(loadConfig({ REDACT_PATTERNS: '["ACME-[0-9]{8}", {"kind": "ticket", "pattern": "T-[a-f0-9]{6}"}]' }).redactPatterns).toEqual([
      { kind: 'pattern', pattern: 'ACME-[0-9]{8}' },
      { kind: 'ticket', pattern: 'T-[a-f0-9]{6}' },
    ]);
    expect(() => loadConfig({ REDACT_PATTERNS: 'ACME-[0-9]{8}' })).toThrow(/REDACT_PATTERNS/);
    expect(() => loadConfig({ REDACT_PATTERNS: '["(unclosed"]' })).toThrow(/REDACT_PATTERNS/);
    // Backreferences cannot run in linear time: RE2 refuses them.
    expect(() => loadConfig({ REDACT_PATTERNS: '["(a)\\\\1"]' })).toThrow(/REDACT_PATTERNS/);
    expect(() => loadConfig({ REDACT_PATTERNS: '[{"kind": "Bad Kind", "pattern": "x"}]' })).toThrow(/REDACT_PATTERNS/);
  });

  it('reads the retention settings, off by default', () => {
    expect(loadConfig({})).toMatchObject({ retentionDays: undefined, retentionMaxBytes: undefined, retentionIntervalMinutes: 10 });
    expect(loadConfig({ RETENTION_DAYS: '30', RETENTION_MAX_BYTES: '10000000000' })).toMatchObject({ retentionDays: 30, retentionMaxBytes: 10_000_000_000 });
    expect(() => loadConfig({ RETENTION_DAYS: '0' })).toThrow(/RETENTION_DAYS/);
  });
});

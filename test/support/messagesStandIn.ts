import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A content block of a scripted reply. */
export type ScriptedBlock =
  { type: 'text'; text: string } | { type: 'thinking'; thinking: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

export interface ScriptedReply {
  content: ScriptedBlock[];
  stopReason: 'end_turn' | 'tool_use';
}

/**
 * An API error instead of a reply: the HTTP status and the Anthropic error body (`{"type":"error","error":
 * {type, message}}`), as the API answers a request it refuses (400 invalid_request_error, 401
 * authentication_error) or cannot serve (429 rate_limit_error, 500 api_error, 529 overloaded_error).
 */
export interface ScriptedError {
  status: number;
  error: { type: string; message: string };
}

/** What the stand-in passes a script: the request body of one `POST /v1/messages`. */
export interface MessagesRequest {
  model: string;
  stream?: boolean;
  tools?: { name: string }[];
  messages: { role: string; content: string | { type: string; text?: string; tool_use_id?: string }[] }[];
}

export interface MessagesStandIn {
  url: string;
  /** Every messages request received, in order. */
  requests: MessagesRequest[];
  close(): Promise<void>;
}

/**
 * A local stand-in of the Anthropic Messages API for the real Claude Code CLI: `POST /v1/messages` is
 * answered by `script` as server-sent events in the streaming format (message_start, content blocks with
 * their deltas, message_delta with the stop reason and usage, message_stop), or by an API error (ScriptedError);
 * anything else gets `{}`-ish.
 */
export async function startMessagesStandIn(script: (request: MessagesRequest) => ScriptedReply | ScriptedError): Promise<MessagesStandIn> {
  const requests: MessagesRequest[] = [];
  let messageCount = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const path = req.url ?? '';
      if (req.method !== 'POST' || !path.startsWith('/v1/messages') || path.includes('count_tokens')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(path.includes('count_tokens') ? '{"input_tokens":10}' : '{}');
        return;
      }
      const request = JSON.parse(body) as MessagesRequest;
      requests.push(request);
      const reply = script(request);
      messageCount += 1;
      if ('error' in reply) {
        res.writeHead(reply.status, { 'content-type': 'application/json', 'request-id': `req_standin_${messageCount}` });
        res.end(JSON.stringify({ type: 'error', error: reply.error }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const send = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      send('message_start', {
        message: {
          id: `msg_standin_${messageCount}`,
          type: 'message',
          role: 'assistant',
          model: request.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 100, output_tokens: 1, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
        },
      });
      reply.content.forEach((block, index) => {
        if (block.type === 'text') {
          send('content_block_start', { index, content_block: { type: 'text', text: '' } });
          send('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } });
        } else if (block.type === 'thinking') {
          send('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } });
          send('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: block.thinking } });
          send('content_block_delta', { index, delta: { type: 'signature_delta', signature: 'c3RhbmQtaW4=' } });
        } else {
          send('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
          send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
        }
        send('content_block_stop', { index });
      });
      send('message_delta', { delta: { stop_reason: reply.stopReason, stop_sequence: null }, usage: { output_tokens: 20 } });
      send('message_stop', {});
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const hasToolResult = (message: MessagesRequest['messages'][number]) => typeof message.content !== 'string' && message.content.some((block) => block.type === 'tool_result');

/**
 * The script of one turn with one tool call: the main conversation (the request that offers the Bash
 * tool) first gets a Bash tool_use of `command`, then, once the tool_result is back, `finalText`. Side
 * requests Claude Code makes (titles, summaries) get a short text.
 */
export function bashThenText({ command, finalText, toolUseId = 'toolu_standin_1' }: { command: string; finalText: string; toolUseId?: string }) {
  return (request: MessagesRequest): ScriptedReply => {
    const main = (request.tools ?? []).some((tool) => tool.name === 'Bash');
    if (!main) return { content: [{ type: 'text', text: 'ok' }], stopReason: 'end_turn' };
    const last = request.messages[request.messages.length - 1]!;
    if (hasToolResult(last)) return { content: [{ type: 'text', text: finalText }], stopReason: 'end_turn' };
    return { content: [{ type: 'tool_use', id: toolUseId, name: 'Bash', input: { command, description: `Run ${command}` } }], stopReason: 'tool_use' };
  };
}

const mentions = (message: MessagesRequest['messages'][number] | undefined, marker: string) =>
  message !== undefined && (typeof message.content === 'string' ? message.content.includes(marker) : message.content.some((block) => block.text?.includes(marker)));

/**
 * The script of a turn that hands work to a subagent (the `Agent` tool, asynchronous in Claude Code 2.1):
 * the main conversation calls Agent with a prompt holding `marker`; the subagent's own conversation (whose
 * first message is that prompt) runs `command` with Bash and answers `subagentText`; the main conversation
 * answers `launchedText` once the launch is acknowledged, and `finalText` once Claude Code brings it the
 * subagent's <task-notification>.
 */
export function agentThenText({
  command,
  subagentText,
  launchedText,
  finalText,
  marker = 'SUBTASK',
}: {
  command: string;
  subagentText: string;
  launchedText: string;
  finalText: string;
  marker?: string;
}) {
  return (request: MessagesRequest): ScriptedReply => {
    const main = (request.tools ?? []).some((tool) => tool.name === 'Bash');
    if (!main) return { content: [{ type: 'text', text: 'ok' }], stopReason: 'end_turn' };
    const toolResultSeen = request.messages.some(hasToolResult);
    if (mentions(request.messages[0], marker)) {
      if (toolResultSeen) return { content: [{ type: 'text', text: subagentText }], stopReason: 'end_turn' };
      return { content: [{ type: 'tool_use', id: 'toolu_standin_sub_1', name: 'Bash', input: { command, description: `Run ${command}` } }], stopReason: 'tool_use' };
    }
    if (request.messages.some((message) => mentions(message, '<task-notification>'))) return { content: [{ type: 'text', text: finalText }], stopReason: 'end_turn' };
    if (toolResultSeen) return { content: [{ type: 'text', text: launchedText }], stopReason: 'end_turn' };
    return {
      content: [
        {
          type: 'tool_use',
          id: 'toolu_standin_agent',
          name: 'Agent',
          input: { description: 'Check the folder', prompt: `${marker}: run ${command} and report`, subagent_type: 'general-purpose' },
        },
      ],
      stopReason: 'tool_use',
    };
  };
}

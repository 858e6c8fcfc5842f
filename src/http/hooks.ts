import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { validate as check } from 'superstruct';
import type { Metrics } from '../metrics';
import { badRequest, HttpError, unprocessable, type FieldError } from '../errors';
import { ByteBudget } from './admission';
import type { ApprovalHolds, HoldEnd } from '../approvals/holds';
import type { Approval } from '../domain/approval';
import { captureTime, hookEventKey, mapHookInput, projectDirFor, sessionNameFor, storableText, type HookInput } from '../claudeCode/hookEvents';
import { CAPTURE_ID_HEADER, CAPTURED_AT_HEADER } from '../claudeCode/hookCommand';
import { hookFacts, splitTranscript } from '../claudeCode/transcriptEvents';
import type { Logger } from '../logger';
import type { Store } from '../store/store';
import { parseJsonBodies } from './body';
import { ClaudeCodeHookBody, PermissionRequestBody } from './hooks.structs';
import { scope } from './auth';
import { createRouter } from './router';

export const CLAUDE_CODE_HOOKS_PATH = '/hooks/claude-code';

export interface HookRoutesDeps {
  store: Pick<Store, 'hooks' | 'approvals'>;
  metrics: Pick<Metrics, 'eventsIngested'>;
  /** The PermissionRequest hooks this instance holds open; absent, they are answered `{}` at once (nothing is held). */
  holds?: ApprovalHolds;
  /** How long a PermissionRequest is held for a decision. */
  holdMs?: number;
  logger?: Logger;
}

export interface HookBodyOptions {
  /** Largest hook body, in bytes once decompressed. */
  maxBytes: number;
  /** Bytes of hook bodies read and handled at once (HOOKS_BODY_BUDGET_BYTES). */
  budgetBytes: number;
  /** How long a hook waits for room in the budget before it is answered 503 (HOOKS_ADMISSION_WAIT_MS). */
  admissionWaitMs: number;
}

/**
 * Parses hook bodies with their own limit, before the app's body parser (which then leaves them be):
 * a PostToolUse carries a whole tool output, a file read or a long command's output, and may be larger
 * than any other request. Each hook first takes its size (its Content-Length; the largest hook when the
 * length is not known beforehand, or the body is compressed) from a byte budget, and holds it until it is
 * answered (or, for a PermissionRequest held for a decision, stored): concurrent large hooks wait their turn,
 * and past the wait are a 503 with Retry-After (the hook command retries; Claude Code reports it as a
 * non-blocking hook error).
 */
export function hookBodies({ maxBytes, budgetBytes, admissionWaitMs }: HookBodyOptions): Middleware {
  const parse = parseJsonBodies({ limit: maxBytes, deepIsBadRequest: true });
  const budget = new ByteBudget(budgetBytes);
  return async function hookBodyParser(ctx, next) {
    if (ctx.path !== CLAUDE_CODE_HOOKS_PATH || ctx.method !== 'POST') return next();
    const declared = ctx.request.length;
    const encoded = (ctx.get('Content-Encoding') || 'identity').trim().toLowerCase() !== 'identity';
    const release = await budget.take(declared !== undefined && !encoded ? declared : maxBytes, admissionWaitMs);
    if (!release) {
      ctx.set('Retry-After', String(Math.max(1, Math.ceil(admissionWaitMs / 1000))));
      throw new HttpError(503, 'Too many large hooks are being taken at once; try again shortly');
    }
    ctx.state.releaseHookBudget = release;
    try {
      return await parse(ctx, next);
    } finally {
      release();
    }
  };
}

/** POST /hooks/claude-code: Claude Code's http hooks (and the hook command) report here. */
export function hookRoutes({ store, metrics, holds, holdMs = 300_000, logger }: HookRoutesDeps): Router {
  const router = createRouter();

  router.post(CLAUDE_CODE_HOOKS_PATH, scope('ingest'), async (ctx) => {
    // What the hook command read from the transcript travels with the hook; never stored as part of it.
    const { input, transcript } = splitTranscript(hookInput(ctx.request.body));
    const permission = input.hook_event_name === 'PermissionRequest' ? permissionRequest(input) : undefined;
    const captureId = ctx.get(CAPTURE_ID_HEADER) || undefined;
    if (captureId !== undefined && captureId.length > MAX_HOOK_ID_CHARS) {
      throw unprocessable([{ loc: ['header', CAPTURE_ID_HEADER], msg: `must have at most ${MAX_HOOK_ID_CHARS} characters`, type: 'text_length' }]);
    }
    const { event, effect } = mapHookInput(input);
    // Hooks of many sessions arrive together: the store writes them in batches, one commit (and notification) each.
    const hook = {
      sessionId: input.session_id,
      session: { session_name: sessionNameFor(input), project_dir: projectDirFor(input) },
      // Its time is when the hook command captured it (sent late from the spool, it is earlier than now).
      event: { ...event, event_id: hookEventKey(input, captureId && storableText(captureId)), timestamp: captureTime(ctx.get(CAPTURED_AT_HEADER) || undefined) ?? null },
      effect,
    };
    const stored = transcript ? await store.hooks.recordWithTranscript({ hook, transcript, ...hookFacts(input) }) : { ...(await store.hooks.record(hook)), transcriptEvents: 0 };
    if (stored.created || stored.transcriptEvents > 0) metrics.eventsIngested(Number(stored.created) + stored.transcriptEvents);
    ctx.status = 200;
    if (permission && holds) {
      // Stored: a hook held for minutes must not keep its bytes out of the budget other hooks wait for.
      (ctx.state.releaseHookBudget as (() => void) | undefined)?.();
      ctx.body = await holdForDecision(ctx, { ...permission, sessionId: input.session_id });
      return;
    }
    if (input.hook_event_name === 'PreToolUse') {
      ctx.body = await budgetAnswer(input.session_id);
      return;
    }
    // The answer is read as the hook's output: `{}` asks Claude Code for nothing (no block, no extra context).
    ctx.body = {};
  });

  // A PermissionRequest, held until a person decides (through any instance), the hold ends, the connection
  // drops or this instance shuts down. Nothing is allowed because nobody answered: undecided is `{}`.
  async function holdForDecision(ctx: Context, request: PermissionRequest & { sessionId: string }): Promise<object> {
    let held: ReturnType<ApprovalHolds['hold']> | undefined;
    let approval: Approval;
    try {
      approval = await store.approvals.create(
        { sessionId: request.sessionId, toolName: request.tool_name, toolInput: request.tool_input, permissionSuggestions: request.permission_suggestions ?? null },
        // Before the commit: a decision taken at once still finds the hold.
        (created) => (held = holds!.hold(created.id, holdMs)),
      );
    } catch (err) {
      held?.cancel();
      throw err;
    }
    const hold = held!;
    // The agent gave up (or its connection broke): the approval expires, no decision can reach it any more.
    let onClose: () => void = () => undefined;
    const dropped = new Promise<'dropped'>((resolve) => {
      onClose = () => {
        if (!ctx.res.writableEnded) resolve('dropped');
      };
      ctx.res.once('close', onClose);
    });
    const end: HoldEnd | 'dropped' = await Promise.race([hold.ended, dropped]);
    ctx.res.off('close', onClose);
    if (end === 'dropped') {
      hold.cancel();
      await store.approvals.expire(approval.id, 'the hook connection closed before a decision');
      return {};
    }
    if ('approval' in end) return answerOf(end.approval);
    if (end.undecided === 'shutdown') {
      await store.approvals.expire(approval.id, 'the server holding the hook shut down').catch(() => undefined);
      return {};
    }
    // The hold is over: expired, unless a decision committed just now (then it is answered).
    const final = await store.approvals.expire(approval.id, `no decision within ${Math.round(holdMs / 1000)} s`);
    return final ? answerOf(final) : {};
  }

  async function budgetAnswer(sessionId: string): Promise<object> {
    try {
      const spend = await store.approvals.spend(sessionId);
      if (!spend || spend.budgetUsd === null || spend.costUsd < spend.budgetUsd) return {};
      return {
        hookSpecificOutput: {
          hookEventName: 'PreToolUse',
          permissionDecision: 'deny',
          permissionDecisionReason: `Budget of $${spend.budgetUsd.toFixed(2)} for this session reached ($${spend.costUsd.toFixed(2)} spent): raise budget_usd in Agent Session Manager to go on`,
        },
      };
    } catch (err) {
      // The event is stored; a failed look-up of the budget must not turn into a non-2xx.
      logger?.warn('could not read the session budget', { err, sessionId });
      return {};
    }
  }

  return router;
}

/** What Claude Code reads from the answer to a PermissionRequest, for an approval as it stands. */
export function answerOf(approval: Approval): object {
  if (approval.state === 'allowed') {
    const suggestions = approval.scope === 'session' && Array.isArray(approval.permission_suggestions) ? approval.permission_suggestions : undefined;
    return { hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow', ...(suggestions ? { updatedPermissions: suggestions } : {}) } } };
  }
  if (approval.state === 'denied') {
    return { hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'deny', message: approval.reason ?? 'Denied from Agent Session Manager' } } };
  }
  return {};
}

type PermissionRequest = { tool_name: string; tool_input: Record<string, unknown>; permission_suggestions?: unknown[] };

// A PermissionRequest must name its tool and input, or there is nothing to decide on (400, naming the field).
function permissionRequest(input: HookInput): PermissionRequest {
  const [error] = check(input, PermissionRequestBody);
  if (error) {
    const failure = error.failures()[0]!;
    const field = failure.path.join('.') || 'body';
    throw badRequest(failure.value === undefined ? `${field} is required` : `${field}: ${failure.message}`);
  }
  return input as unknown as PermissionRequest;
}

// A 400 (not the 422 of other routes) for a body Claude Code cannot have meant: it reports it as a
// non-blocking hook error and carries on.
function hookInput(body: unknown): HookInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('A hook input must be a JSON object');
  const [error] = check(body, ClaudeCodeHookBody);
  if (error) {
    const failure = error.failures()[0]!;
    const field = failure.path.join('.') || 'body';
    throw badRequest(failure.value === undefined ? `${field} is required` : `${field}: ${failure.message}`);
  }
  const tooLong: FieldError[] = ID_FIELDS.filter((field) => {
    const value = (body as Record<string, unknown>)[field];
    return typeof value === 'string' && value.length > MAX_HOOK_ID_CHARS;
  }).map((field) => ({ loc: ['body', field], msg: `must have at most ${MAX_HOOK_ID_CHARS} characters`, type: 'text_length' }));
  // A 422 rather than the 400 above: the input is a hook, but an id this long cannot key an event (an index
  // entry holds about 2.7 KB) and is not one Claude Code makes.
  if (tooLong.length > 0) throw unprocessable(tooLong);
  return body as HookInput;
}

/** The longest id a hook may carry (in UTF-16 code units, as session ids are counted). */
export const MAX_HOOK_ID_CHARS = 256;
// Fields that become indexed columns or part of the event's key.
const ID_FIELDS = ['tool_use_id', 'prompt_id', 'agent_id', 'hook_event_name'] as const;

import type { Logger } from '../logger';
import type { AlertStore, AttemptOutcome, OutboxAlert } from '../store/alerts';

export interface AlertSenderOptions {
  alerts: Pick<AlertStore, 'sendDue'>;
  /** Where each alert is POSTed; every URL gets it once. */
  urls: readonly string[];
  /** The dashboard's address as people reach it: alerts link to the session there. */
  publicUrl?: string;
  logger: Logger;
  /** How often the outbox is looked at. */
  intervalMs?: number;
  /** The first retry's delay; each next one doubles, up to an hour. */
  retryBaseMs?: number;
  /** How long an alert is retried before it is given up. */
  maxAgeMs?: number;
  /** How long one delivery may take. */
  timeoutMs?: number;
}

/** The header that carries an alert's stable id: the same on every retry, so a receiver can drop a repeat. */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

const HOUR_MS = 60 * 60 * 1000;

/**
 * Sends the alerts of the outbox to ALERT_WEBHOOK_URLS, off the request path: a slow or dead endpoint holds
 * this loop only. Each alert is locked while it is sent (one instance at a time) and what each URL
 * acknowledged is recorded before the lock is released, so a restart sends again only what was not acknowledged.
 */
export class AlertSender {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly controller = new AbortController();

  constructor(private readonly options: AlertSenderOptions) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.controller.abort();
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.round().finally(() => {
        this.running = null;
        this.schedule(this.options.intervalMs ?? 1_000);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    const { retryBaseMs = 1_000, maxAgeMs = 24 * HOUR_MS } = this.options;
    try {
      await this.options.alerts.sendDue({ limit: 100, maxAgeMs, retryDelayMs: (attempts) => Math.min(retryBaseMs * 2 ** (attempts - 1), HOUR_MS) }, (alert) => this.attempt(alert));
    } catch (err) {
      if (!this.stopped) this.options.logger.warn('could not send alerts; retrying', { err });
    }
  }

  private async attempt(alert: OutboxAlert): Promise<AttemptOutcome> {
    const body = JSON.stringify(alertBody(alert, this.options.publicUrl));
    const pending = this.options.urls.filter((url) => !alert.deliveredTo.includes(url));
    const delivered: string[] = [];
    const errors: string[] = [];
    for (const url of pending) {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [IDEMPOTENCY_HEADER]: `asm-alert-${alert.id}` },
          body,
          signal: AbortSignal.any([AbortSignal.timeout(this.options.timeoutMs ?? 10_000), this.controller.signal]),
        });
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) delivered.push(url);
        else errors.push(`${url}: HTTP ${response.status}`);
      } catch (err) {
        errors.push(`${url}: ${(err as Error).message}`);
      }
    }
    if (errors.length > 0) this.options.logger.info('an alert was not delivered everywhere; it will be retried', { alertId: alert.id, errors });
    return { delivered, done: delivered.length === pending.length, error: errors.length > 0 ? errors.join('; ') : undefined };
  }
}

/** The JSON an alert is POSTed as: `text` for chat webhooks (Slack, Mattermost, Discord-compatible), and the structured fields. */
export function alertBody(alert: OutboxAlert, publicUrl: string | undefined): Record<string, unknown> {
  const payload = alert.payload;
  const url = publicUrl && alert.sessionId ? `${publicUrl}/#/sessions/${encodeURIComponent(alert.sessionId)}` : undefined;
  const text = `${alertText(alert)}${url ? ` ${url}` : ''}`;
  return { text, ...payload, alert_id: alert.id, created_at: alert.createdAt.toISOString(), ...(url ? { url } : {}) };
}

function alertText({ kind, payload }: OutboxAlert): string {
  const session = `"${String(payload.session_name ?? payload.session_id)}"`;
  const money = (value: unknown) => `$${Number(value).toFixed(2)}`;
  switch (kind) {
    case 'approval_requested': {
      const approval = (payload.approval ?? {}) as { tool_name?: string; tool_input?: Record<string, unknown> };
      const input = approval.tool_input ?? {};
      const what =
        typeof input.command === 'string'
          ? `: ${input.command}`
          : typeof input.file_path === 'string'
            ? `: ${input.file_path}`
            : typeof input.url === 'string'
              ? `: ${input.url}`
              : '';
      return `Claude Code asks to use ${approval.tool_name ?? 'a tool'} in ${session}${what.length > 300 ? `${what.slice(0, 300)}…` : what}`;
    }
    case 'waiting_for_input':
      return `${session} is waiting for input`;
    case 'session_failed':
      return `${session} failed`;
    case 'budget_80':
      return `${session} has used 80 % of its budget: ${money(payload.cost_usd)} of ${money(payload.budget_usd)}`;
    case 'budget_100':
      return `${session} reached its budget: ${money(payload.cost_usd)} of ${money(payload.budget_usd)}; its tool calls are denied until it is raised`;
    default:
      return `${session}: ${kind}`;
  }
}

import type { Approval } from '../domain/approval';

/** How a held PermissionRequest ends: with the approval as decided, or undecided (hold over, shutdown, dropped). */
export type HoldEnd = { approval: Approval } | { undecided: 'hold_ended' | 'shutdown' };

interface Held {
  settle: (end: HoldEnd) => void;
}

/**
 * The PermissionRequest hooks this instance holds open, by approval id. A decision reaches the instance
 * holding the hook through its change listener (an `approval_decided` change, whichever instance took the
 * decision): no polling. In memory only: a hold belongs to one open HTTP request.
 */
export class ApprovalHolds {
  private readonly held = new Map<number, Held>();
  private closed = false;

  get size(): number {
    return this.held.size;
  }

  /**
   * Registers a hold for `approvalId`: resolves with its decision, or undecided after `holdMs` (or at
   * shutdown). `cancel` ends it early (the connection dropped) without an answer.
   */
  hold(approvalId: number, holdMs: number): { ended: Promise<HoldEnd>; cancel: () => void } {
    let settleNow!: (end: HoldEnd) => void;
    const ended = new Promise<HoldEnd>((resolve) => (settleNow = resolve));
    if (this.closed) {
      settleNow({ undecided: 'shutdown' });
      return { ended, cancel: () => undefined };
    }
    const done = () => {
      clearTimeout(timer);
      this.held.delete(approvalId);
    };
    const entry: Held = {
      settle: (end) => {
        done();
        settleNow(end);
      },
    };
    const timer = setTimeout(() => entry.settle({ undecided: 'hold_ended' }), holdMs);
    this.held.set(approvalId, entry);
    return { ended, cancel: done };
  }

  /** An approval left `pending` (from the change log): the hook holding it, if this instance holds it, answers. */
  decided(approval: Approval): void {
    if (approval.state === 'pending') return;
    this.held.get(approval.id)?.settle({ approval });
  }

  /** The ids of the approvals held now. */
  ids(): number[] {
    return [...this.held.keys()];
  }

  /** Shutdown: every held hook answers undecided (`{}`) now, and no new one is held. */
  releaseAll(): number[] {
    this.closed = true;
    const ids = this.ids();
    for (const entry of [...this.held.values()]) entry.settle({ undecided: 'shutdown' });
    return ids;
  }
}

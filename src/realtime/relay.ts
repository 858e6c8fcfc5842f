import type { Metrics } from '../metrics';
import type { Hub } from './hub';
import type { ChangeListener } from './listener';
import { frameFor } from './messages';

/**
 * The arrow from PostgreSQL to the browsers: what the listener reads goes to the hub's clients, serialised
 * once per change, and each change's time from commit to broadcast is measured. While the hub has no
 * clients, the listener skips its reads.
 */
export function relay(listener: ChangeListener, hub: Hub, metrics: Pick<Metrics, 'deliveryLag'>): void {
  listener.relayTo({
    hasAudience: () => hub.size > 0,
    onChanges: (changes) => {
      hub.broadcast(changes.map(frameFor));
      const now = Date.now();
      for (const change of changes) if (change.committedAt) metrics.deliveryLag((now - change.committedAt.getTime()) / 1000);
    },
  });
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The instance's Prometheus metrics, in a registry of its own (several instances can share a process). */
export interface Metrics {
  readonly registry: Registry;
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  eventsIngested(count: number): void;
  /** Frames handed to WebSocket clients. */
  framesSent(count: number): void;
  /** Time from a change's commit to its broadcast by this instance. */
  deliveryLag(seconds: number): void;
  /** How far the search index is behind the change log (src/store/searchIndexer.ts). */
  searchIndexLag(lag: { changes: number; seconds: number }): void;
}

export function createMetrics({ websocketClients }: { websocketClients: () => number }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'asm_http_requests_total',
    help: 'HTTP requests by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'asm_http_request_duration_seconds',
    help: 'HTTP request duration by method and route.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const ingested = new Counter({ name: 'asm_events_ingested_total', help: 'Events stored through this instance.', registers: [registry] });
  const sent = new Counter({ name: 'asm_websocket_messages_sent_total', help: 'Messages sent to WebSocket clients.', registers: [registry] });
  const lag = new Histogram({
    name: 'asm_change_delivery_lag_seconds',
    help: 'From the commit of a change to its broadcast to the WebSocket clients of this instance.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  new Gauge({
    name: 'asm_websocket_clients',
    help: 'WebSocket clients connected to this instance.',
    registers: [registry],
    collect() {
      this.set(websocketClients());
    },
  });
  const indexLagChanges = new Gauge({
    name: 'asm_search_index_lag_changes',
    help: 'Committed changes the search index has not followed yet (searches scan them exactly).',
    registers: [registry],
  });
  const indexLagSeconds = new Gauge({
    name: 'asm_search_index_lag_seconds',
    help: 'Age of the oldest committed change the search index has not followed yet; 0 when none.',
    registers: [registry],
  });
  return {
    registry,
    observeRequest(method, route, status, seconds) {
      requests.inc({ method, route, status: String(status) });
      duration.observe({ method, route }, seconds);
    },
    eventsIngested: (count) => ingested.inc(count),
    framesSent: (count) => sent.inc(count),
    deliveryLag: (seconds) => lag.observe(seconds),
    searchIndexLag({ changes, seconds }) {
      indexLagChanges.set(changes);
      indexLagSeconds.set(seconds);
    },
  };
}

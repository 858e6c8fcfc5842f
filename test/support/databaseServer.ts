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

/**
 * The PostgreSQL server the tests use, in this order: TEST_DATABASE_URL if set, else a testcontainers
 * Postgres if a container runtime answers, else an embedded Postgres in a temporary directory.
 */
export async function openTestDatabaseServer(): Promise<TestDatabaseServer> {
  const url = process.env.TEST_DATABASE_URL;
  if (url) return { kind: 'url', adminUrl: url, stop: async () => undefined };

  const container = await startContainerIfRuntimeAnswers();
  if (container) return container;

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

async function startContainerIfRuntimeAnswers(): Promise<TestDatabaseServer | null> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    return null;
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:16-alpine').start();
  return { kind: 'container', adminUrl: container.getConnectionUri(), stop: async () => void (await container.stop()) };
}

import { configWith, type Config } from '../../src/config';
import { createLogger, type Logger } from '../../src/logger';
import { apiClient } from './http';
import { startService, type Service } from '../../src/service';

export interface TestInstance {
  service: Service;
  /** e.g. http://127.0.0.1:40123 */
  baseUrl: string;
  wsUrl: string;
  close(): Promise<void>;
}

const running = new Set<TestInstance>();

/**
 * One instance for the whole test file, started in beforeAll on the file's database (and closed with it);
 * `api` is a client for it that can be made at the top of the file.
 */
export function useInstance(database: { readonly url: string }, overrides: Partial<Config> = {}) {
  let instance: TestInstance | undefined;
  beforeAll(async () => {
    instance = await startInstance(database.url, overrides);
  });
  const started = () => {
    if (!instance) throw new Error('the instance is started in beforeAll');
    return instance;
  };
  return {
    get instance() {
      return started();
    },
    api: apiClient(() => started().baseUrl),
  };
}

/** Closes every instance still running; the test database's teardown calls it before dropping the database. */
export async function closeAllInstances(): Promise<void> {
  await Promise.all([...running].map((instance) => instance.close()));
}

/** A whole server instance (HTTP, WebSocket, listener) on a random loopback port, as main.ts starts it. */
export async function startInstance(databaseUrl: string, overrides: Partial<Config> = {}, options: { logger?: Logger } = {}): Promise<TestInstance> {
  const config = configWith({ hosts: ['127.0.0.1'], port: 0, ...overrides });
  const logger = options.logger ?? createLogger(process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'silent');
  const service = await startService({ config, databaseUrl, logger });
  const baseUrl = service.urls[0]!;
  const instance: TestInstance = {
    service,
    baseUrl,
    wsUrl: `${baseUrl.replace(/^http/, 'ws')}/ws`,
    close: async () => {
      running.delete(instance);
      await service.close();
    },
  };
  running.add(instance);
  return instance;
}

import { configWith, type Config } from '../../src/config';
import { createLogger, type Logger } from '../../src/logger';
import { startService, type Service, type ServiceOptions } from '../../src/service';
import { apiClient, type ApiClient } from './http';
import { opened } from './openResources';

export interface TestInstance {
  service: Service;
  /** e.g. http://127.0.0.1:40123 */
  baseUrl: string;
  wsUrl: string;
  /** A JSON client for this instance. */
  api: ApiClient;
  close(): Promise<void>;
}

export interface InstanceOptions {
  logger?: Logger;
  hub?: ServiceOptions['hub'];
  keyUpkeepMs?: ServiceOptions['keyUpkeepMs'];
  searchIndexer?: ServiceOptions['searchIndexer'];
  alerts?: ServiceOptions['alerts'];
}

// Instances started inside a test, closed after it (see trackOpenResources.ts); and those started for a whole file.
const ofTest = new Set<TestInstance>();
const ofFile = new Set<TestInstance>();
let testRunning = false;

/**
 * `count` instances (default 1) for the whole test file, all on the file's database, started together in
 * beforeAll and closed in afterAll. The handles can be taken at the top of the file; using one before
 * beforeAll has run throws.
 */
export function useInstance(database: { readonly url: string }, overrides: Partial<Config> = {}, { count = 1, ...options }: InstanceOptions & { count?: number } = {}) {
  const started: TestInstance[] = [];
  beforeAll(async () => {
    started.push(...(await Promise.all(Array.from({ length: count }, () => startInstance(database.url, overrides, options)))));
  });
  // Before its database is dropped, useTestDatabase closes these as well; closing twice is harmless.
  afterAll(() => Promise.all(started.splice(0).map((instance) => instance.close())));
  const handles = Array.from({ length: count }, (_, i) => handle(() => started[i]));
  return { instance: handles[0]!, instances: handles, api: handles[0]!.api };
}

// Stands for an instance that beforeAll will start.
function handle(get: () => TestInstance | undefined): TestInstance {
  const started = () => {
    const instance = get();
    if (!instance) throw new Error('the instance is started in beforeAll');
    return instance;
  };
  return {
    get service() {
      return started().service;
    },
    get baseUrl() {
      return started().baseUrl;
    },
    get wsUrl() {
      return started().wsUrl;
    },
    api: apiClient(() => started().baseUrl),
    close: () => started().close(),
  };
}

/**
 * A whole server instance (HTTP, WebSocket, listener) on a random loopback port, as main.ts starts it.
 * Started inside a test, it is closed when that test ends (if the test has not closed it); started in a
 * beforeAll, it must be closed in the matching afterAll (useInstance does both).
 */
export async function startInstance(databaseUrl: string, overrides: Partial<Config> = {}, options: InstanceOptions = {}): Promise<TestInstance> {
  const config = configWith({ hosts: ['127.0.0.1'], port: 0, ...overrides });
  const logger = options.logger ?? createLogger(process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'silent');
  const service = await startService({
    config,
    databaseUrl,
    logger,
    hub: options.hub,
    keyUpkeepMs: options.keyUpkeepMs,
    searchIndexer: options.searchIndexer,
    alerts: options.alerts,
  });
  const baseUrl = service.urls[0]!;
  const owners = testRunning ? ofTest : ofFile;
  const closed = opened(service, 'a server instance');
  const instance: TestInstance = {
    service,
    baseUrl,
    wsUrl: `${baseUrl.replace(/^http/, 'ws')}/ws`,
    api: apiClient(baseUrl),
    close: async () => {
      owners.delete(instance);
      await service.close();
      closed();
    },
  };
  owners.add(instance);
  return instance;
}

/** Closes every instance still running: the file's database calls it before it is dropped. */
export async function closeAllInstances(): Promise<void> {
  await Promise.all([...ofTest, ...ofFile].map((instance) => instance.close()));
}

/** From before the first beforeEach hook of a test to its end, instances started belong to that test. */
export function testStarts(): void {
  testRunning = true;
}

/** Closes the instances the test that just ended started and left running. */
export async function closeInstancesOfTest(): Promise<void> {
  testRunning = false;
  await Promise.all([...ofTest].map((instance) => instance.close()));
}

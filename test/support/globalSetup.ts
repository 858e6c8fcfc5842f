import { execFileSync } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { migrate } from '../../src/db/migrate';
import { createLogger } from '../../src/logger';
import { openTestDatabaseServer, type TestDatabaseServer } from './databaseServer';
import { databaseUrl } from './databaseUrl';

declare global {
  // Shared with globalTeardown, which runs in this same process.
  var __asmTestServer: { server: TestDatabaseServer; template: string } | undefined;
}

/**
 * Builds dist/, starts (or finds) the test PostgreSQL server and builds one migrated template database; each test file
 * then copies it into a database of its own (see testDatabase.ts), which is much faster than migrating.
 */
export default async function globalSetup(): Promise<void> {
  // Some tests run the compiled server or an embedded cluster as real processes: build dist/ once for all.
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: path.join(__dirname, '..', '..'),
    stdio: 'inherit',
  });
  const server = await openTestDatabaseServer();
  const template = `asm_template_${process.pid}_${Date.now()}`;
  try {
    const admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    try {
      await admin.query(`create database ${template}`);
    } finally {
      await admin.end();
    }
    await migrate(databaseUrl(server.adminUrl, template), createLogger('warn'));
  } catch (err) {
    // jest skips globalTeardown when globalSetup fails: do not leave a container or a cluster behind.
    await server.stop();
    throw err;
  }
  process.env.ASM_TEST_ADMIN_URL = server.adminUrl;
  process.env.ASM_TEST_TEMPLATE = template;
  process.env.ASM_TEST_DATABASE_KIND = server.kind;
  globalThis.__asmTestServer = { server, template };
  process.stdout.write(`\ntests use the ${server.kind} PostgreSQL server\n`);
}

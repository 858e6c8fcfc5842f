import pg from 'pg';

export default async function globalTeardown(): Promise<void> {
  const shared = globalThis.__asmTestServer;
  if (!shared) return;
  const admin = new pg.Client({ connectionString: shared.server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${shared.template} with (force)`);
  } finally {
    await admin.end();
  }
  await shared.server.stop();
}

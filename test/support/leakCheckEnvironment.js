// The test environment: Node's, plus a leak check. After a file's last afterAll hook, anything its tests
// opened and did not close (see openResources.ts) fails the file, named. Things still closing get a
// moment to finish; the check waits for the registry to empty, not for a fixed time.
const { TestEnvironment } = require('jest-environment-node');

const SETTLE_LIMIT_MS = 10_000;

class LeakCheckEnvironment extends TestEnvironment {
  async handleTestEvent(event, state) {
    if (event.name !== 'run_finish') return;
    const open = () => [...(this.global.__asmOpenResources ?? new Map()).values()].filter((entry) => entry.isOpen?.() !== false);
    const deadline = Date.now() + SETTLE_LIMIT_MS;
    while (open().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    if (open().length === 0) return;
    const counts = new Map();
    for (const { what } of open()) counts.set(what, (counts.get(what) ?? 0) + 1);
    const list = [...counts].map(([what, count]) => `${count} × ${what}`).join('; ');
    state.unhandledErrors.push(new Error(`left open after the file's tests: ${list}. Close what a test opens (or open it through test/support).`));
  }
}

module.exports = LeakCheckEnvironment;

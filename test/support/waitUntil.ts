/**
 * Resolves once `condition` holds, checking every 20 ms; rejects after `timeoutMs` naming `what`. For
 * conditions no event announces (a server-side count, a flag); a test never waits a fixed time instead.
 */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

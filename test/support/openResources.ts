/**
 * What a test file has opened and not yet closed: server instances, PostgreSQL connections (pools hold
 * them), WebSockets, browsers, TCP proxies. The registry lives on the file's global object, where the test
 * environment (leakCheckEnvironment.js) looks after the file's last hook and fails the file if anything
 * is still open.
 */
interface Entry {
  what: string;
  /** For resources whose own code may drop our listeners: asked at check time. */
  isOpen?: () => boolean;
}
type Registry = Map<object, Entry>;

const registry = (): Registry => {
  const holder = globalThis as { __asmOpenResources?: Registry };
  return (holder.__asmOpenResources ??= new Map());
};

/**
 * What is still open among the resources `what` describes, once those closing have had up to `limitMs`
 * to finish: the check waits for the registry to empty rather than for a fixed time.
 */
export async function stillOpen(matches: (what: string) => boolean, limitMs = 10_000): Promise<string[]> {
  const open = () => [...registry().values()].filter((entry) => entry.isOpen?.() !== false && matches(entry.what)).map((entry) => entry.what);
  const deadline = Date.now() + limitMs;
  while (open().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return open();
}

/** How the registry names a connection to `database`. */
export const postgresConnection = (database: string, whose = '') => `a PostgreSQL connection to ${database} ${whose}`.trimEnd();

/** Records `resource` as open, described as `what`; returns the function that records it closed. */
export function opened(resource: object, what: string, isOpen?: () => boolean): () => void {
  registry().set(resource, { what, isOpen });
  return () => void registry().delete(resource);
}

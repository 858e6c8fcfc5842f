import { StructError, validate as check, type Struct } from 'superstruct';
import { unprocessable, type FieldError } from '../errors';
import { MAX_BODY_DEPTH } from './depth';

const MAX_MESSAGE_CHARS = 300;

export type Location = 'body' | 'query' | 'path';

/**
 * Validates (and coerces) `value` with `struct`; on failure throws a 422 listing every failing field,
 * located as the contract shows: `["body","session_name"]`.
 */
export function validate<T>(location: Location, value: unknown, struct: Struct<T, any>): T {
  const attempt = (input: unknown): { failures: FieldError[] } | { result: T } => {
    const [error, result] = check(input, struct, { coerce: true });
    // Failures after the first are produced lazily, so describing them belongs inside the attempt.
    return error ? { failures: describeFailures(location, error) } : { result: result as T };
  };
  let outcome: ReturnType<typeof attempt>;
  try {
    outcome = attempt(value);
  } catch (err) {
    // superstruct quotes a failing value with `${value}`, which throws for a JSON object that has its own
    // "toString" member. The request fails anyway; validate a copy that can be quoted, for the message.
    // Validating, and quoting a failing value, recurse: bodies are refused past MAX_BODY_DEPTH before they
    // get here (body.ts), and a value that still runs out of stack is refused as too deep, not a 500.
    if (err instanceof RangeError) throw unprocessable([{ loc: [location], msg: `must not nest deeper than ${MAX_BODY_DEPTH} levels`, type: 'json' }]);
    if (!(err instanceof TypeError)) throw err;
    outcome = attempt(quotable(value));
  }
  if ('failures' in outcome) throw unprocessable(outcome.failures);
  return outcome.result;
}

/** A copy of a JSON value in which no object has an own "toString" member (renamed "toString "). */
function quotable(value: unknown): unknown {
  const copy = (node: unknown): unknown => (Array.isArray(node) ? [...node] : typeof node === 'object' && node !== null ? { ...node } : node);
  const root = copy(value);
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop() as Record<string, unknown> | unknown[];
    if (typeof node !== 'object' || node === null) continue;
    if (!Array.isArray(node) && Object.hasOwn(node, 'toString')) {
      node['toString '] = node.toString;
      Reflect.deleteProperty(node, 'toString');
    }
    for (const [key, child] of Object.entries(node)) {
      if (typeof child !== 'object' || child === null) continue;
      const childCopy = copy(child);
      (node as Record<string, unknown>)[key] = childCopy;
      stack.push(childCopy);
    }
  }
  return root;
}

function describeFailures(location: Location, error: StructError): FieldError[] {
  return error.failures().map((failure) => {
    const loc = [location, ...failure.path.map((part) => (typeof part === 'number' ? part : String(part)))];
    if (failure.value === undefined) return { loc, msg: 'Field required', type: 'missing' };
    const type = failure.refinement ?? `${failure.type}_type`;
    // superstruct quotes the failing value whole: a large one is cut, so the answer stays small.
    const msg = failure.message.length > MAX_MESSAGE_CHARS ? `${failure.message.slice(0, MAX_MESSAGE_CHARS)}…` : failure.message;
    return { loc, msg, type };
  });
}

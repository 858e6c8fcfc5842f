import { StructError, validate as check, type Struct } from 'superstruct';
import { unprocessable, type FieldError } from '../errors';

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
    return { loc, msg: failure.message, type };
  });
}

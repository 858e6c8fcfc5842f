import { StructError, validate as check, type Struct } from 'superstruct';
import { unprocessable, type FieldError } from '../errors';

export type Location = 'body' | 'query' | 'path';

/**
 * Validates (and coerces) `value` with `struct`; on failure throws a 422 listing every failing field,
 * located as the contract shows: `["body","session_name"]`.
 */
export function validate<T>(location: Location, value: unknown, struct: Struct<T, any>): T {
  const [error, result] = check(value, struct, { coerce: true });
  if (error) throw unprocessable(describeFailures(location, error));
  return result as T;
}

function describeFailures(location: Location, error: StructError): FieldError[] {
  return error.failures().map((failure) => {
    const loc = [location, ...failure.path.map((part) => (typeof part === 'number' ? part : String(part)))];
    if (failure.value === undefined) return { loc, msg: 'Field required', type: 'missing' };
    const type = failure.refinement ?? `${failure.type}_type`;
    return { loc, msg: failure.message, type };
  });
}

import { array, enums, optional, refine, size, string, type, type Infer } from 'superstruct';
import { SCOPES } from '../domain/key';
import { documented } from '../structs/schema';
import { QueryInt } from './sessions.structs';

const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A key's name: letters, digits, `.`, `_`, `-`, at most 64, not starting with `env-` (the names of API_KEYS). */
export const KeyName = documented(
  refine(string(), 'key_name', (value) =>
    !KEY_NAME.test(value)
      ? 'must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'
      : value.toLowerCase().startsWith('env-')
        ? 'must not start with "env-": those are the names of the keys of API_KEYS'
        : true,
  ),
  { type: 'string', pattern: KEY_NAME.source, description: 'Letters, digits, ".", "_" and "-"; not starting with "env-".' },
);

export const Scope = enums([...SCOPES]);

export const KeyCreate = type({
  name: KeyName,
  /** What the key may do; at least one. */
  scopes: size(array(Scope), 1, SCOPES.length * 4),
});
export type KeyCreate = Infer<typeof KeyCreate>;

export const KeyPath = type({ name: KeyName });

export const DEFAULT_AUDIT_LIMIT = 100;

export const AuditQuery = type({
  limit: optional(QueryInt(1, 1000)),
  /** `next_cursor` of the previous page. */
  cursor: optional(QueryInt(1, Number.MAX_SAFE_INTEGER)),
});
export type AuditQuery = Infer<typeof AuditQuery>;

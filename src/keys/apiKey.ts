import { createHash, randomBytes } from 'node:crypto';

/** Every key this server makes starts so, to be recognisable in a settings file or a secret scanner. */
export const KEY_PREFIX = 'asm_';

const KEY_PATTERN = /^asm_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A new key: its row's id, the digest stored, and the key itself, which is shown once and never kept. */
export interface NewApiKey {
  id: string;
  secretSha256: Buffer;
  token: string;
}

/** The SHA-256 of a key's secret: enough for 256 random bits, which no dictionary holds. */
export const secretDigest = (secret: string): Buffer => createHash('sha256').update(secret).digest();

/** A fresh key, `asm_<id>_<secret>`: a 64-bit id (hex) to find its row, a 256-bit secret (base64url). */
export function newApiKey(): NewApiKey {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, secretSha256: secretDigest(secret), token: `${KEY_PREFIX}${id}_${secret}` };
}

/** The id and secret of a key of this server's format; undefined for anything else (an API_KEYS key, say). */
export function parseApiKey(token: string): { id: string; secret: string } | undefined {
  const match = KEY_PATTERN.exec(token);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

/** `asm_<id>`: the part of a key that may be shown to tell it apart. */
export const keyPrefix = (id: string): string => `${KEY_PREFIX}${id}`;

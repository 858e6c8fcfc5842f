import type { Struct } from 'superstruct';
import { fromString } from './fields';

// Up to 16 digits: every such number is exact as a double, so no text silently becomes a different number.
const DECIMAL_INTEGER = /^\s*-?\d{1,16}\s*$/;

/** The one way text becomes an integer here: decimal digits, an optional minus, blanks around; else undefined. */
export function parseInteger(text: string): number | undefined {
  return DECIMAL_INTEGER.test(text) ? Number(text) : undefined;
}

/** `struct`, also taking its integer as decimal text (query strings, environment variables); other text fails validation as it is. */
export const integerFromText = <T, S>(struct: Struct<T, S>): Struct<T, S> => fromString(struct, (value) => parseInteger(value) ?? value);

/**
 * Keyset pagination, newest first. The cursor is opaque to clients (base64url JSON of the last row's sort
 * key), so the sort can change without breaking them; a cursor that does not decode is a 422.
 */
import type { z } from 'zod';

import { validationFailed } from './errors';

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** The cursor for a page that ends at this sort key. */
export function encodeCursor(position: (string | number)[]): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** The sort key inside a cursor. Throws 422 validation_failed (path `cursor`) for anything this API did not
 * return, or a cursor of another list (its shape fails `schema`). */
export function decodeCursor<S extends z.ZodType>(cursor: string, schema: S): z.output<S> {
  try {
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    // No cursor this API returns holds a NUL, which PostgreSQL's text could not even be compared with.
    if (text.includes('\\u0000') || text.includes('\0')) throw new Error('NUL in a cursor');
    return schema.parse(JSON.parse(text));
  } catch {
    throw validationFailed([{ path: 'cursor', message: 'Not a cursor this API returned.' }]);
  }
}

/** Rows fetched with LIMIT limit+1 (`limit` in records): the extra row only says whether another page exists. */
export function toPage<R, T>(
  rows: R[],
  limit: number,
  map: (row: R) => T,
  position: (row: R) => (string | number)[],
): Page<T> {
  const kept = rows.slice(0, limit);
  const last = kept.at(-1);
  return {
    data: kept.map(map),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(position(last)) : null,
  };
}

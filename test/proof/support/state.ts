/**
 * What the proofs compare before and after a request: every table's rows, hashed, so a rejected request
 * that changed anything at all (not only a row count) is caught. And the one error shape, checked the same
 * way everywhere.
 */
import crypto from 'node:crypto';

import type { Queryable } from '../../../partner-api/db/store';
import { TABLES } from '../../support/helpers';

/**
 * One hash per table over every row and column. api_keys.last_used_at is left out: it records that a key
 * was used (at most once a minute), which an authenticated request does even when its input is refused.
 */
export async function snapshot(db: Queryable): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of TABLES) {
    const rows = await db.all<Record<string, unknown>>(`SELECT * FROM ${table}`);
    if (table === 'api_keys') for (const row of rows) delete row.last_used_at;
    // Sorted here, not by the engine: every table's rows in one order on both engines, whatever their keys.
    const lines = rows.map((row) => JSON.stringify(row)).sort();
    out[table] = `${rows.length}:${crypto.createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16)}`;
  }
  return out;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[]; [extra: string]: unknown };
}

/** The documented shape: `{ error: { code, message, details? } }`, code snake_case, details `{ path, message }`. */
export function isErrorShape(body: unknown): body is ErrorBody {
  if (typeof body !== 'object' || body === null || Object.keys(body).length !== 1) return false;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, details } = error as Record<string, unknown>;
  if (typeof code !== 'string' || !/^[a-z]+(_[a-z]+)*$/.test(code)) return false;
  if (typeof message !== 'string' || message.length === 0) return false;
  if (details === undefined) return true;
  return (
    Array.isArray(details) &&
    details.every(
      (d) => typeof d === 'object' && d !== null && typeof d.path === 'string' && typeof d.message === 'string',
    )
  );
}

/**
 * What the proofs compare before and after a request: every table's rows, hashed, so a rejected request
 * that changed anything at all (not only a row count) is caught. And the one error shape, checked the same
 * way everywhere.
 */
import crypto from 'node:crypto';

import type Database from 'better-sqlite3';

import { TABLES } from '../../support/helpers';

/** The primary key of the tables whose key is not `id`: an order both engines have (PostgreSQL has no rowid). */
const KEY_OF: Partial<Record<(typeof TABLES)[number], string>> = {
  ticket_counters: 'workspace_id',
  idempotency_keys: 'workspace_id, key',
  sign_in_links: 'token_hash',
  sessions: 'id_hash',
  record_tags: 'record_id, tag_key',
  contact_attributes: 'workspace_id, key',
};

/**
 * One hash per table over every row and column. api_keys.last_used_at is left out: it records that a key
 * was used (at most once a minute), which an authenticated request does even when its input is refused.
 */
export function snapshot(db: Database.Database): Record<string, string> {
  const out: Record<string, string> = {};
  for (const table of TABLES) {
    const rows = db.prepare(`SELECT * FROM ${table} ORDER BY ${KEY_OF[table] ?? 'id'}`).all() as Record<
      string,
      unknown
    >[];
    if (table === 'api_keys') for (const row of rows) delete row.last_used_at;
    out[table] =
      `${rows.length}:${crypto.createHash('sha256').update(JSON.stringify(rows)).digest('hex').slice(0, 16)}`;
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

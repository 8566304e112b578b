/**
 * Idempotency-Key records, per workspace. A request first claims its key (state `running`, committed at
 * once so a concurrent duplicate sees it); the change and the stored response then commit together in
 * one transaction (see http/write-handler.ts). So a crash before that commit leaves no change, and the
 * retry, once the 30-second claim has gone stale, runs the request exactly once.
 *
 * The claim's `created_at_ms` doubles as its token: a takeover rewrites it, so a slow original that
 * finishes late finds its claim gone and cannot commit a second time.
 */
import crypto from 'node:crypto';

import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { ApiError } from './errors';

/** Kept at least this long; a key older than this is forgotten. */
export const IDEMPOTENCY_KEEP_MS = 24 * 3_600_000;
/** A running claim older than this belongs to a request whose process died: it may be taken over. */
export const IDEMPOTENCY_STALE_RUNNING_MS = 30_000;
const PURGE_EVERY_MS = 10 * 60_000;
/** Records deleted per purge: a request that purges waits for at most this many deletes. The retention
 * runner (db/retention.ts) purges as well, a batch at a time, so a busy day's keys do not pile up. */
const PURGE_BATCH = 500;

export interface StoredResponse {
  status: number;
  body: unknown;
}

export type Claim = { kind: 'claimed'; token: number } | { kind: 'replay'; response: StoredResponse };

interface KeyRow {
  request_hash: string;
  state: 'running' | 'done';
  response_status: number | null;
  response_body: string | null;
  created_at_ms: number;
}

/** Same method, path and JSON body (key order aside) → same hash: SHA-256 as 64 lowercase hex characters. */
export function requestHash(method: string, path: string, body: unknown): string {
  return crypto
    .createHash('sha256')
    .update(`${method}\n${path}\n${canonicalJson(body)}`)
    .digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const lastPurge = new WeakMap<AppContext, number>();

/**
 * Claims `key` for a request whose hash is `hash`, or finds its stored answer: `claimed` with the claim's token
 * (the clock's ms at the claim) or `replay` with the response. A key older than 24 h is forgotten first, and
 * now and then (every 10 min) expired records are purged. Throws 422 idempotency_key_conflict when the key was
 * used for a different request, 409 idempotency_request_in_progress (Retry-After: 1 s) while another request
 * holds a claim younger than 30 s. Commits at once, outside any group.
 */
export async function claimIdempotencyKey(
  ctx: AppContext,
  workspaceId: string,
  key: string,
  hash: string,
): Promise<Claim> {
  const now = ctx.clock.now();
  await maybePurge(ctx, now);
  return await inTransaction(ctx, async (ctx) => {
    // Race-free with many writers on either engine: the primary key decides which insert claims a new key, and
    // a takeover is an UPDATE conditional on the created_at_ms that was read, so of two takeovers one changes
    // the row and the other, re-reading, finds a fresh claim. Each lost race re-reads; the loop is bounded.
    for (let round = 0; round < 3; round++) {
      const inserted = (
        await ctx.db.run(
          `INSERT INTO idempotency_keys (workspace_id, key, request_hash, state, created_at_ms) VALUES (?, ?, ?, 'running', ?)
         ON CONFLICT (workspace_id, key) DO NOTHING`,
          workspaceId,
          key,
          hash,
          now,
        )
      ).changes;
      if (inserted === 1) return { kind: 'claimed', token: now };
      const row = await ctx.db.one<KeyRow>(
        'SELECT * FROM idempotency_keys WHERE workspace_id = ? AND key = ?',
        workspaceId,
        key,
      );
      if (!row) continue; // purged between the insert and the read
      if (now - row.created_at_ms > IDEMPOTENCY_KEEP_MS) {
        // Forgotten after 24 h: the key starts over for this request.
        const renewed = (
          await ctx.db.run(
            `UPDATE idempotency_keys
              SET request_hash = ?, state = 'running', response_status = NULL, response_body = NULL, created_at_ms = ?
            WHERE workspace_id = ? AND key = ? AND created_at_ms = ?`,
            hash,
            now,
            workspaceId,
            key,
            row.created_at_ms,
          )
        ).changes;
        if (renewed === 1) return { kind: 'claimed', token: now };
        continue;
      }
      if (row.request_hash !== hash) {
        throw new ApiError(
          422,
          'idempotency_key_conflict',
          'This Idempotency-Key was already used with a different request. Use a new key for a new request.',
        );
      }
      if (row.state === 'done') {
        return {
          kind: 'replay',
          response: { status: row.response_status!, body: JSON.parse(row.response_body!) as unknown },
        };
      }
      if (now - row.created_at_ms < IDEMPOTENCY_STALE_RUNNING_MS) throw inProgress();
      // A stale claim (its request died): taken over, unless another request took it over first.
      const taken = (
        await ctx.db.run(
          `UPDATE idempotency_keys SET created_at_ms = ?
          WHERE workspace_id = ? AND key = ? AND state = 'running' AND created_at_ms = ?`,
          now,
          workspaceId,
          key,
          row.created_at_ms,
        )
      ).changes;
      if (taken === 1) return { kind: 'claimed', token: now };
    }
    throw inProgress();
  });
}

function inProgress(): ApiError {
  return new ApiError(
    409,
    'idempotency_request_in_progress',
    'A request with this Idempotency-Key is still being processed. Retry in a few seconds.',
    { headers: { 'Retry-After': '1' } },
  );
}

/**
 * Stores the response; call inside the transaction of the change, so both commit or neither does (throws
 * Error outside one). Throws 409 idempotency_request_in_progress when the claim `token` is no longer ours (it
 * went stale and another request took the key over), which rolls the change back.
 */
export async function completeIdempotencyKey(
  ctx: AppContext,
  workspaceId: string,
  key: string,
  token: number,
  response: StoredResponse,
): Promise<void> {
  if (!ctx.db.inTransaction) throw new Error('completeIdempotencyKey must run inside the transaction of the change');
  const stored = (
    await ctx.db.run(
      `UPDATE idempotency_keys SET state = 'done', response_status = ?, response_body = ?
      WHERE workspace_id = ? AND key = ? AND state = 'running' AND created_at_ms = ?`,
      response.status,
      JSON.stringify(response.body),
      workspaceId,
      key,
      token,
    )
  ).changes;
  // Our claim was taken over (we ran longer than the stale limit): the other request owns the key now.
  if (stored === 0) throw inProgress();
}

/** A request that failed changed nothing: free its key so a corrected retry can run. Deletes only this running
 * claim (`token`), never a stored response or another request's claim. */
export async function releaseIdempotencyKey(
  ctx: AppContext,
  workspaceId: string,
  key: string,
  token: number,
): Promise<void> {
  await ctx.db.run(
    `DELETE FROM idempotency_keys WHERE workspace_id = ? AND key = ? AND state = 'running' AND created_at_ms = ?`,
    workspaceId,
    key,
    token,
  );
}

/** Deletes up to `limit` records older than 24 h before `now` (ms), oldest first (by index: migration 005);
 * returns how many. */
export async function purgeExpiredIdempotencyKeys(
  ctx: AppContext,
  now = ctx.clock.now(),
  limit = PURGE_BATCH,
): Promise<number> {
  return (
    await ctx.db.run(
      'DELETE FROM idempotency_keys WHERE (workspace_id, key) IN (SELECT workspace_id, key FROM idempotency_keys WHERE created_at_ms < ? ORDER BY created_at_ms LIMIT ?)',
      now - IDEMPOTENCY_KEEP_MS,
      limit,
    )
  ).changes;
}

async function maybePurge(ctx: AppContext, now: number): Promise<void> {
  const last = lastPurge.get(ctx);
  if (last !== undefined && now - last < PURGE_EVERY_MS && now >= last) return;
  lastPurge.set(ctx, now);
  await purgeExpiredIdempotencyKeys(ctx, now);
}

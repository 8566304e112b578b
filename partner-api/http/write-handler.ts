/**
 * Every write endpoint goes through here. An action is split in two: `prepare` (async: validation, DNS
 * checks; it changes nothing) and the `commit` it returns (it runs in one write transaction, given that
 * transaction's context; on SQLite a savepoint of the transaction shared by one event-loop turn's writes, see
 * db/sqlite-store.ts). With an
 * Idempotency-Key, the stored response is written in that same transaction, so a retry either replays the
 * committed result or runs once; it never runs twice.
 *
 * Authority holds at commit: the caller was checked on arrival, but prepare may take long (a target's DNS
 * check) and the commit waits for the next group. So the commit first runs the caller's checks again
 * (`req.reverifyCaller`, set by http/auth.ts: key not revoked, its scope, the workspace's plan; agent token
 * not revoked or rotated) inside the transaction that writes. A revocation is itself a write transaction,
 * so it either committed before (this write is refused as the arrival check would refuse it) or commits
 * after (and then sees, and ends, what this one wrote).
 */
import type { Request, RequestHandler, Response } from 'express';

import { type AppContext, inTransaction } from '../context';
import { ApiError } from '../domain/errors';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  releaseIdempotencyKey,
  requestHash,
  type StoredResponse,
} from '../domain/idempotency';

/** The write itself, given the context of its transaction (`ctx.db` is the transaction): everything it reads
 * and writes must go through that context, or it would run outside the transaction. */
export type Commit = (ctx: AppContext) => Promise<StoredResponse>;
export type Action = (req: Request) => Commit | Promise<Commit>;

const IDEMPOTENCY_KEY = /^[\x20-\x7E]{1,255}$/;

/** The Idempotency-Key (or X-Idempotency-Key) header: undefined when absent, 422 when not 1–255 printable ASCII. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const raw = req.get('idempotency-key') ?? req.get('x-idempotency-key');
  if (raw === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(raw)) {
    throw new ApiError(422, 'validation_failed', 'The Idempotency-Key header is not valid.', {
      details: [{ path: 'Idempotency-Key', message: 'Must be 1 to 255 printable ASCII characters.' }],
    });
  }
  return raw;
}

function send(res: Response, response: StoredResponse, replayed = false): void {
  if (replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.status(response.status).json(response.body);
}

/** A write that honours Idempotency-Key when the caller authenticated with a workspace API key. */
export function writeHandler(ctx: AppContext, action: Action): RequestHandler {
  return async (req, res) => {
    const workspaceId = req.apiKey?.workspace.id;
    const key = workspaceId ? idempotencyKeyOf(req) : undefined;
    const authorized =
      (commit: Commit): Commit =>
      async (tx) => {
        await req.reverifyCaller?.(tx);
        return commit(tx);
      };
    if (!workspaceId || key === undefined) {
      const commit = authorized(await action(req));
      send(res, await inTransaction(ctx, commit));
      return;
    }
    const claim = await claimIdempotencyKey(ctx, workspaceId, key, requestHash(req.method, req.path, req.body));
    if (claim.kind === 'replay') {
      send(res, claim.response, true);
      return;
    }
    let response: StoredResponse;
    try {
      const commit = authorized(await action(req));
      response = await inTransaction(ctx, async (tx) => {
        const result = await commit(tx);
        await completeIdempotencyKey(tx, workspaceId, key, claim.token, result);
        return result;
      });
    } catch (error) {
      try {
        await releaseIdempotencyKey(ctx, workspaceId, key, claim.token);
      } catch {
        // The disk that failed the write fails this too: the claim goes stale in 30 s and a retry takes it over.
      }
      throw error;
    }
    send(res, response);
  };
}

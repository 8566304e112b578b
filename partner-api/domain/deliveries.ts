/**
 * The delivery log a workspace reads (issue 11 §2–3: the Settings page and GET /v1/deliveries): each
 * delivery of an event to one of its subscriptions, newest first, with its latest attempt (HTTP status,
 * duration, the receiver's response excerpt) and, while pending, when it is retried; one delivery with all
 * of its attempts; and one event. Everything is scoped to the workspace: another workspace's id is as
 * unknown as a made-up one (404 not_found).
 *
 * deliveries has no workspace column (the fan-out writes them hot, delivery/fanout.ts), so the workspace's
 * log is a merge of its subscriptions' own pages, each one seek on deliveries_by_subscription(_status)
 * (migration 007): cost grows with the workspace's subscriptions, never with other workspaces' traffic.
 */
import { z } from 'zod';

import type { EventType } from '../../catalog/events';
import type { AppContext } from '../context';
import { isoAt } from '../lib/clock';
import { selectOne, sql } from '../lib/statements';
import { ApiError } from './errors';
import { decodeCursor, encodeCursor, type Page } from './pagination';

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed', 'cancelled'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** One HTTP attempt, as the log shows it. */
export interface AttemptRecord {
  attempt: number;
  startedAt: string;
  durationMs: number;
  /** The receiver's HTTP status; null when no response came (refused, timed out, connection failed). */
  statusCode: number | null;
  outcome: string;
  error: string | null;
  /** The start of the receiver's response body (at most 4 KiB, as stored): receiver-controlled text. */
  responseExcerpt: string | null;
  /** True for a replay (from Settings or POST /v1/deliveries/{id}/replay), false for the worker's own. */
  manual: boolean;
}

export interface DeliveryRecord {
  id: string;
  /** The event's id: the `webhook-id` header of every attempt, replays included. */
  eventId: string;
  eventType: EventType;
  subscriptionId: string;
  status: DeliveryStatus;
  /** Automatic attempts made so far (manual ones not counted). */
  attemptCount: number;
  /** When the next automatic attempt is due, while pending; else null. */
  nextAttemptAt: string | null;
  lastError: string | null;
  createdAt: string;
  finishedAt: string | null;
  lastAttempt: AttemptRecord | null;
}

interface DeliveryRow {
  seq: number;
  id: string;
  event_id: string;
  subscription_id: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_ms: number;
  last_error: string | null;
  created_at: string;
  finished_at: string | null;
}

interface AttemptRow {
  attempt: number;
  started_at: string;
  duration_ms: number;
  status_code: number | null;
  outcome: string;
  error: string | null;
  response_body: string | null;
  manual: number;
}

const DELIVERY_COLUMNS =
  'rowid AS seq, id, event_id, subscription_id, status, attempts, next_attempt_ms, last_error, created_at, finished_at';
const ATTEMPT_COLUMNS = 'attempt, started_at, duration_ms, status_code, outcome, error, response_body, manual';

export interface DeliveryQuery {
  limit: number;
  cursor?: string | undefined;
  status?: DeliveryStatus | undefined;
  subscriptionId?: string | undefined;
  eventType?: EventType | undefined;
}

const deliveryCursor = z.tuple([z.string(), z.number().int()]);

/**
 * The workspace's deliveries, newest first (created_at, then insertion order), `limit` per page, filtered
 * by status, subscription and event type. Throws 422 validation_failed for a cursor this API did not
 * return. An unknown subscription id (or another workspace's) gives an empty page.
 */
export function listDeliveries(ctx: AppContext, workspaceId: string, query: DeliveryQuery): Page<DeliveryRecord> {
  const after = query.cursor ? decodeCursor(query.cursor, deliveryCursor) : null;
  const subscriptions = subscriptionsOf(ctx, workspaceId, query);
  const rows: (DeliveryRow & { event_type: EventType })[] = [];
  for (const { id, event_type } of subscriptions) {
    for (const row of pageOf(ctx, id, query.status, after, query.limit + 1)) rows.push({ ...row, event_type });
  }
  rows.sort((a, b) => (a.created_at === b.created_at ? b.seq - a.seq : a.created_at < b.created_at ? 1 : -1));
  const kept = rows.slice(0, query.limit);
  const last = kept.at(-1);
  return {
    data: kept.map((row) => toRecord(ctx, row, row.event_type)),
    nextCursor: rows.length > query.limit && last ? encodeCursor([last.created_at, last.seq]) : null,
  };
}

function subscriptionsOf(
  ctx: AppContext,
  workspaceId: string,
  query: DeliveryQuery,
): { id: string; event_type: EventType }[] {
  if (query.subscriptionId) {
    const one = selectOne<{ id: string; event_type: EventType }>(
      ctx.db,
      'SELECT id, event_type FROM subscriptions WHERE id = ? AND workspace_id = ?',
      query.subscriptionId,
      workspaceId,
    );
    return one && (!query.eventType || one.event_type === query.eventType) ? [one] : [];
  }
  if (query.eventType) {
    return sql<{ id: string; event_type: EventType }>(
      ctx.db,
      'SELECT id, event_type FROM subscriptions WHERE workspace_id = ? AND event_type = ?',
    ).all(workspaceId, query.eventType);
  }
  return sql<{ id: string; event_type: EventType }>(
    ctx.db,
    'SELECT id, event_type FROM subscriptions WHERE workspace_id = ?',
  ).all(workspaceId);
}

/** One subscription's newest `limit` deliveries before `after`, of one status or any: one index seek each. */
function pageOf(
  ctx: AppContext,
  subscriptionId: string,
  status: DeliveryStatus | undefined,
  after: [string, number] | null,
  limit: number,
): DeliveryRow[] {
  const order = 'ORDER BY created_at DESC, rowid DESC LIMIT ?';
  if (status && after) {
    return sql<DeliveryRow>(
      ctx.db,
      `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE subscription_id = ? AND status = ? AND (created_at, rowid) < (?, ?) ${order}`,
    ).all(subscriptionId, status, after[0], after[1], limit);
  }
  if (status) {
    return sql<DeliveryRow>(
      ctx.db,
      `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE subscription_id = ? AND status = ? ${order}`,
    ).all(subscriptionId, status, limit);
  }
  if (after) {
    return sql<DeliveryRow>(
      ctx.db,
      `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE subscription_id = ? AND (created_at, rowid) < (?, ?) ${order}`,
    ).all(subscriptionId, after[0], after[1], limit);
  }
  return sql<DeliveryRow>(ctx.db, `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE subscription_id = ? ${order}`).all(
    subscriptionId,
    limit,
  );
}

function toAttempt(r: AttemptRow): AttemptRecord {
  return {
    attempt: r.attempt,
    startedAt: r.started_at,
    durationMs: r.duration_ms,
    statusCode: r.status_code,
    outcome: r.outcome,
    error: r.error,
    responseExcerpt: r.response_body,
    manual: r.manual === 1,
  };
}

function toRecord(ctx: AppContext, r: DeliveryRow, eventType: EventType): DeliveryRecord {
  const last = selectOne<AttemptRow>(
    ctx.db,
    `SELECT ${ATTEMPT_COLUMNS} FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt DESC LIMIT 1`,
    r.id,
  );
  return {
    id: r.id,
    eventId: r.event_id,
    eventType,
    subscriptionId: r.subscription_id,
    status: r.status,
    attemptCount: r.attempts,
    nextAttemptAt: r.status === 'pending' ? isoAt(r.next_attempt_ms) : null,
    lastError: r.last_error,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    lastAttempt: last ? toAttempt(last) : null,
  };
}

/** The workspace's delivery with every attempt, oldest first. Throws 404 not_found for any other id. */
export function findDelivery(
  ctx: AppContext,
  workspaceId: string,
  id: string,
): DeliveryRecord & { attempts: AttemptRecord[] } {
  const row = selectOne<DeliveryRow & { event_type: EventType }>(
    ctx.db,
    `SELECT d.rowid AS seq, d.id, d.event_id, d.subscription_id, d.status, d.attempts, d.next_attempt_ms, d.last_error,
            d.created_at, d.finished_at, s.event_type
       FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
      WHERE d.id = ? AND s.workspace_id = ?`,
    id,
    workspaceId,
  );
  if (!row) throw new ApiError(404, 'not_found', `No delivery ${id} in this workspace.`);
  const attempts = sql<AttemptRow>(
    ctx.db,
    `SELECT ${ATTEMPT_COLUMNS} FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt`,
  ).all(id);
  return { ...toRecord(ctx, row, row.event_type), attempts: attempts.map(toAttempt) };
}

export interface EventRecordView {
  id: string;
  type: EventType;
  assistantId: string | null;
  createdAt: string;
  /** The exact record every subscriber received. */
  payload: unknown;
}

/** One of the workspace's events, with the payload its deliveries carry. Throws 404 not_found for any other id. */
export function findEvent(ctx: AppContext, workspaceId: string, id: string): EventRecordView {
  const row = selectOne<{
    id: string;
    type: EventType;
    assistant_id: string | null;
    payload: string;
    created_at: string;
  }>(
    ctx.db,
    'SELECT id, type, assistant_id, payload, created_at FROM events WHERE id = ? AND workspace_id = ?',
    id,
    workspaceId,
  );
  if (!row) throw new ApiError(404, 'not_found', `No event ${id} in this workspace.`);
  return {
    id: row.id,
    type: row.type,
    assistantId: row.assistant_id,
    createdAt: row.created_at,
    payload: JSON.parse(row.payload) as unknown,
  };
}

/** The subscription's newest delivery with its latest attempt (Settings → Connected Zaps), or null. */
export function lastDeliveryOf(ctx: AppContext, subscriptionId: string, eventType: EventType): DeliveryRecord | null {
  const [row] = pageOf(ctx, subscriptionId, undefined, null, 1);
  return row ? toRecord(ctx, row, eventType) : null;
}

/**
 * The delivery log a workspace reads (issue 11 §2–3: the Settings page and GET /v1/deliveries): each
 * delivery of an event to one of its subscriptions, newest first, with its latest attempt (HTTP status,
 * duration, the receiver's response excerpt) and, while pending, when it is retried; one delivery with all
 * of its attempts; and one event. Everything is scoped to the workspace: another workspace's id is as
 * unknown as a made-up one (404 not_found).
 *
 * Every page is one index range (migration 010): deliveries carry their workspace and event type, so the
 * workspace-wide log reads deliveries_by_workspace(_status|_type) and one Zap's reads 007's
 * deliveries_by_subscription(_status). The cost is the page's rows, never the number of subscriptions the
 * workspace has had (deactivated ones are kept), nor other workspaces' traffic.
 */
import { z } from 'zod';

import type { EventType } from '../../catalog/events';
import type { AppContext } from '../context';
import { isoAt } from '../lib/clock';
import { ApiError } from './errors';
import { decodeCursor, type Page, toPage } from './pagination';

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
  id: string;
  event_id: string;
  subscription_id: string;
  event_type: EventType;
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
  'id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at';
const ATTEMPT_COLUMNS = 'attempt, started_at, duration_ms, status_code, outcome, error, response_body, manual';

export interface DeliveryQuery {
  limit: number;
  cursor?: string | undefined;
  status?: DeliveryStatus | undefined;
  subscriptionId?: string | undefined;
  eventType?: EventType | undefined;
}

const deliveryCursor = z.tuple([z.string(), z.string()]);

/**
 * The workspace's deliveries, newest first (created_at, then id: creation order within a process, lib/ids.ts), `limit` per page, filtered
 * by status, subscription and event type: one index range, `limit` + 1 rows read (with both a status and an
 * event type, also the type's rows of other statuses in between). Throws 422 validation_failed for a cursor
 * this API did not return. An unknown subscription id (or another workspace's) gives an empty page.
 */
export async function listDeliveries(
  ctx: AppContext,
  workspaceId: string,
  query: DeliveryQuery,
): Promise<Page<DeliveryRecord>> {
  const after = query.cursor ? decodeCursor(query.cursor, deliveryCursor) : null;
  const where: string[] = [];
  const params: unknown[] = [];
  const filter = (clause: string, ...values: unknown[]) => {
    where.push(clause);
    params.push(...values);
  };
  let index: string;
  if (query.subscriptionId) {
    // One Zap's own index. Its workspace and event type are checked once here, not per row: a Zap has one
    // event type, and a filter that rejects it (or another workspace's Zap) would otherwise read all its rows.
    const eventType = await ctx.db.value<EventType>(
      'SELECT event_type FROM subscriptions WHERE id = ? AND workspace_id = ?',
      query.subscriptionId,
      workspaceId,
    );
    if (!eventType || (query.eventType && query.eventType !== eventType)) return { data: [], nextCursor: null };
    filter('subscription_id = ?', query.subscriptionId);
    if (query.status) filter('status = ?', query.status);
    index = query.status ? 'deliveries_by_subscription_status' : 'deliveries_by_subscription';
  } else {
    filter('workspace_id = ?', workspaceId);
    if (query.status) filter('status = ?', query.status);
    if (query.eventType) filter('event_type = ?', query.eventType);
    index = query.status
      ? 'deliveries_by_workspace_status'
      : query.eventType
        ? 'deliveries_by_workspace_type'
        : 'deliveries_by_workspace';
  }
  if (after) filter('(created_at, id) < (?, ?)', after[0], after[1]);
  // SQLite is told the index (its planner could pick one that reads the whole workspace to sort); PostgreSQL
  // has no such clause, and its planner, which keeps statistics, picks the same index itself.
  const indexedBy = ctx.db.engine === 'sqlite' ? `INDEXED BY ${index}` : '';
  const rows = await ctx.db.all<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM deliveries ${indexedBy} WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`,
    ...params,
    query.limit + 1,
  );
  const page = toPage(
    rows,
    query.limit,
    (row) => row,
    (row) => [row.created_at, row.id],
  );
  return { ...page, data: await Promise.all(page.data.map((row) => toRecord(ctx, row))) };
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

async function toRecord(ctx: AppContext, r: DeliveryRow): Promise<DeliveryRecord> {
  const last = await ctx.db.one<AttemptRow>(
    `SELECT ${ATTEMPT_COLUMNS} FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt DESC LIMIT 1`,
    r.id,
  );
  return {
    id: r.id,
    eventId: r.event_id,
    eventType: r.event_type,
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

/**
 * Attempts a delivery's page and GET /v1/deliveries/{id} show: the latest ones. Replays are capped at 20 per
 * delivery (delivery/replay.ts MANUAL_ATTEMPTS_MAX), so with the default retry schedule (8 automatic attempts)
 * every attempt is shown; this bounds the view (30 × 4 KiB excerpts) whatever the schedule, and for a delivery
 * replayed more often before the cap existed.
 */
export const ATTEMPTS_SHOWN = 30;

/**
 * The workspace's delivery with its latest ATTEMPTS_SHOWN attempts, oldest first, and `attemptsTotal`, every
 * attempt recorded (older ones are not paged: the latest say how the receiver answers now). Throws 404
 * not_found for any other id.
 */
export async function findDelivery(
  ctx: AppContext,
  workspaceId: string,
  id: string,
): Promise<DeliveryRecord & { attempts: AttemptRecord[]; attemptsTotal: number }> {
  const row = await ctx.db.one<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = ? AND workspace_id = ?`,
    id,
    workspaceId,
  );
  if (!row) throw new ApiError(404, 'not_found', `No delivery ${id} in this workspace.`);
  const latest = await ctx.db.all<AttemptRow>(
    `SELECT ${ATTEMPT_COLUMNS} FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt DESC LIMIT ?`,
    id,
    ATTEMPTS_SHOWN,
  );
  const attemptsTotal = await ctx.db.value('SELECT COUNT(*) FROM delivery_attempts WHERE delivery_id = ?', id);
  return {
    ...(await toRecord(ctx, row)),
    attempts: latest.reverse().map(toAttempt),
    attemptsTotal: attemptsTotal as number,
  };
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
export async function findEvent(ctx: AppContext, workspaceId: string, id: string): Promise<EventRecordView> {
  const row = await ctx.db.one<{
    id: string;
    type: EventType;
    assistant_id: string | null;
    payload: string;
    created_at: string;
  }>(
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
export async function lastDeliveryOf(ctx: AppContext, subscriptionId: string): Promise<DeliveryRecord | null> {
  const row = await ctx.db.one<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE subscription_id = ? ORDER BY created_at DESC, id DESC LIMIT 1`,
    subscriptionId,
  );
  return row ? await toRecord(ctx, row) : null;
}

/**
 * Reading what the API recorded: the events table, each payload parsed and checked strictly against the
 * catalog, so a test that looks at an event has also proved it is exactly the shape Zapier receives.
 */
import { type EventType, payloadSchema } from '../../catalog/events';
import type { ApiServer } from './api-server';
import { TABLES } from './helpers';

export interface RecordedEvent {
  id: string;
  workspaceId: string;
  type: EventType;
  assistantId: string | null;
  payload: any;
}

export async function recordedEvents(
  server: ApiServer,
  filter: { type?: EventType; workspaceId?: string } = {},
): Promise<RecordedEvent[]> {
  const rows = await server.ctx.db.all<{
    id: string;
    workspace_id: string;
    type: EventType;
    assistant_id: string | null;
    payload: string;
  }>(
    `SELECT id, workspace_id, type, assistant_id, payload FROM events
        WHERE (CAST(? AS TEXT) IS NULL OR type = ?) AND (CAST(? AS TEXT) IS NULL OR workspace_id = ?) ORDER BY seq`,
    filter.type ?? null,
    filter.type ?? null,
    filter.workspaceId ?? null,
    filter.workspaceId ?? null,
  );
  return rows.map((r) => {
    const payload = JSON.parse(r.payload);
    const check = payloadSchema(r.type).strict().safeParse(payload);
    if (!check.success) throw new Error(`event ${r.id} (${r.type}) does not match the catalog: ${check.error.message}`);
    return { id: r.id, workspaceId: r.workspace_id, type: r.type, assistantId: r.assistant_id, payload };
  });
}

/**
 * The table counts a rejected request must leave as they were: every table but delivery_attempts, which a
 * running delivery worker adds to on its own schedule, whatever the request did.
 */
export async function tableCounts(server: ApiServer): Promise<Record<string, number>> {
  const tables = TABLES.filter((table) => table !== 'delivery_attempts');
  return Object.fromEntries(
    await Promise.all(tables.map(async (t) => [t, (await server.ctx.db.value<number>(`SELECT COUNT(*) FROM ${t}`))!])),
  );
}

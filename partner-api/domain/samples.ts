/**
 * What Zapier's "Test trigger" shows: the most recent real events of a type, exactly as they were
 * delivered (the stored payload), or, when there are none yet, the fixture with placeholder values.
 */
import type { EventType } from '../../catalog/events';
import { fixtureFor } from '../../fixtures';
import type { AppContext } from '../context';

/** The most GET /v1/samples returns; the retention keeps this many newest events per Test trigger. */
export const SAMPLES_LIMIT_MAX = 10;

export interface Samples {
  data: Record<string, unknown>[];
  source: 'live' | 'fixture';
}

/**
 * The newest `limit` events of the type (at most SAMPLES_LIMIT_MAX, which the route enforces), newest first,
 * optionally only one assistant's; or the fixture alone when there are none. Raises no ApiError of its own:
 * an assistant id of another workspace simply finds nothing.
 */
export async function samplesFor(
  ctx: AppContext,
  workspaceId: string,
  query: { eventType: EventType; assistantId?: string | undefined; limit: number },
): Promise<Samples> {
  // Two statements, not one with `(? IS NULL OR assistant_id = ?)`: that form cannot seek on assistant_id, so
  // a filtered call read every event of the type until it found enough of the assistant's (migration 005).
  const payloads = (
    query.assistantId === undefined
      ? await ctx.db.all<{ payload: string }>(
          `SELECT payload FROM events WHERE workspace_id = ? AND type = ? ORDER BY seq DESC LIMIT ?`,
          workspaceId,
          query.eventType,
          query.limit,
        )
      : await ctx.db.all<{ payload: string }>(
          `SELECT payload FROM events WHERE workspace_id = ? AND type = ? AND assistant_id = ? ORDER BY seq DESC LIMIT ?`,
          workspaceId,
          query.eventType,
          query.assistantId,
          query.limit,
        )
  ).map((r) => r.payload);
  if (payloads.length === 0) return { data: [fixtureFor(query.eventType)], source: 'fixture' };
  return { data: payloads.map((p) => JSON.parse(p) as Record<string, unknown>), source: 'live' };
}

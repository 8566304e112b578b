/**
 * What Zapier's "Test trigger" shows: the most recent real events of a type, exactly as they were
 * delivered (the stored payload), or, when there are none yet, the fixture with placeholder values.
 */
import type { AppContext } from '../context';
import type { EventType } from '../../catalog/events';
import { fixtureFor } from '../../fixtures';
import { sql } from '../lib/statements';

export interface Samples {
  data: Record<string, unknown>[];
  source: 'live' | 'fixture';
}

export function samplesFor(ctx: AppContext, workspaceId: string, query: { eventType: EventType; assistantId?: string; limit: number }): Samples {
  const payloads = sql(
    ctx.db,
    `SELECT payload FROM events
      WHERE workspace_id = ? AND type = ? AND (? IS NULL OR assistant_id = ?)
      ORDER BY seq DESC LIMIT ?`,
  )
    .pluck()
    .all(workspaceId, query.eventType, query.assistantId ?? null, query.assistantId ?? null, query.limit) as string[];
  if (payloads.length === 0) return { data: [fixtureFor(query.eventType)], source: 'fixture' };
  return { data: payloads.map((p) => JSON.parse(p) as Record<string, unknown>), source: 'live' };
}

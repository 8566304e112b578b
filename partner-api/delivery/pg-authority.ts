/**
 * The worker's look at who may still receive (authority.ts) for a whole batch of sends at once, on
 * PostgreSQL: one statement for every subscription of the batch instead of three primary-key reads each, a
 * network round trip apiece (about 14 a launch under the bench's load, docs/performance.md). The rule is
 * authority.ts `refusalOf`, the same on both engines.
 */
import type { Queryable } from '../db/store';
import type { Plan } from '../domain/workspaces';
import { type Authority, type Refusal, refusalOf } from './authority';

const AUTHORITY_OF = `
SELECT s.id, s.active, k.id IS NOT NULL AS "keyFound", k.revoked_at AS "revokedAt", w.plan
  FROM subscriptions s
  LEFT JOIN api_keys k ON k.id = s.api_key_id
  LEFT JOIN workspaces w ON w.id = s.workspace_id
 WHERE s.id = ANY (CAST(? AS TEXT[]))`;

/**
 * The refusal for each of `subscriptionIds` (null: a send may go ahead), read in `db`'s transaction in one
 * statement; a subscription with no row is refused as inactive.
 */
export async function pgRefusals(db: Queryable, subscriptionIds: string[]): Promise<Map<string, Refusal | null>> {
  const rows = await db.all<Authority & { id: string; plan: Plan | null }>(AUTHORITY_OF, subscriptionIds);
  const found = new Map(rows.map((row) => [row.id, row]));
  return new Map(subscriptionIds.map((id) => [id, refusalOf(found.get(id) ?? null)]));
}

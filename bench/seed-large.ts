/**
 * `ts-node bench/seed-large.ts FILE [EVENTS] [SPACING_MS]`: a large database for measuring queries and retention the
 * way a long-running install would see them. One Pro workspace with three assistants; EVENTS (default
 * 1,000,000) `chat.conversation_started` events, 90% from assistant A and 10% from B, none from C (the
 * Test-trigger case that used to scan every event of the type), each with one succeeded delivery and its
 * attempt, created one per SPACING_MS (default 100) ending now. The soak (bench/soak.ts) uses 1 ms: a million
 * events span the last 1,000 s, what its 1,000 events/s keep with a retention of that length. Prints the workspace, the assistants and an API key (JSON).
 * Written with plain inserts in 10,000-row transactions: about a minute per million events here.
 */
import fs from 'node:fs';

import { fixtureFor } from '../fixtures';
import { loadConfig } from '../partner-api/config';
import { createAppContext } from '../partner-api/context';
import { openDatabase } from '../partner-api/db/open';
import { SqliteStore } from '../partner-api/db/sqlite-store';
import { createApiKey } from '../partner-api/domain/api-keys';
import { SCOPES } from '../partner-api/domain/credentials';
import { createAssistant, createWorkspace } from '../partner-api/domain/workspaces';
import { newId } from '../partner-api/lib/ids';

export interface SeededDatabase {
  workspaceId: string;
  /** A (90% of events), B (10%), C (none). */
  assistants: [string, string, string];
  key: string;
}

export async function seedLargeDatabase(file: string, events: number, spacingMs = 100): Promise<SeededDatabase> {
  fs.rmSync(file, { force: true });
  const db = openDatabase(file);
  const ctx = createAppContext({ store: new SqliteStore(db), config: loadConfig({}) });
  const workspace = await createWorkspace(ctx, { name: 'Large', plan: 'pro' });
  const assistants = (await Promise.all(
    ['A', 'B', 'C'].map(async (name) => (await createAssistant(ctx, workspace.id, name)).id),
  )) as [string, string, string];
  const key = (await createApiKey(ctx, { workspaceId: workspace.id, name: 'bench', scopes: [...SCOPES] })).key;
  const subscriptionId = newId('sub');
  db.prepare(
    `INSERT INTO subscriptions (id, workspace_id, api_key_id, event_type, target_url, secret, active, created_at, deactivated_at, deactivated_reason)
     SELECT ?, ?, id, 'chat.conversation_started', 'https://hooks.example.com/x', 'whsec_x', 0, ?, ?, 'unsubscribed' FROM api_keys LIMIT 1`,
  ).run(subscriptionId, workspace.id, new Date().toISOString(), new Date().toISOString());
  const payload = JSON.stringify(fixtureFor('chat.conversation_started'));
  const insertEvent = db.prepare(
    `INSERT INTO events (id, workspace_id, type, assistant_id, payload, created_at) VALUES (?, ?, 'chat.conversation_started', ?, ?, ?)`,
  );
  const insertDelivery = db.prepare(
    `INSERT INTO deliveries (id, event_id, subscription_id, workspace_id, event_type, status, attempts, next_attempt_ms, created_at, finished_at) VALUES (?, ?, ?, ?, 'chat.conversation_started', 'succeeded', 1, ?, ?, ?)`,
  );
  const insertAttempt = db.prepare(
    `INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, status_code, outcome, response_body) VALUES (?, ?, 1, ?, 12, 200, 'succeeded', '{"status":"success"}')`,
  );
  const startMs = Date.now() - events * spacingMs;
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const at = new Date(startMs + i * spacingMs).toISOString();
      const eventId = newId('evt');
      const deliveryId = newId('dlv');
      insertEvent.run(eventId, workspace.id, i % 10 === 9 ? assistants[1] : assistants[0], payload, at);
      insertDelivery.run(deliveryId, eventId, subscriptionId, workspace.id, startMs + i * spacingMs, at, at);
      insertAttempt.run(newId('att'), deliveryId, at);
    }
  });
  for (let from = 0; from < events; from += 10_000) batch(from, Math.min(events, from + 10_000));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { workspaceId: workspace.id, assistants, key };
}

if (require.main === module) {
  const [file, count, spacing] = process.argv.slice(2);
  if (!file) throw new Error('usage: ts-node bench/seed-large.ts FILE [EVENTS] [SPACING_MS]');
  const started = Date.now();
  void seedLargeDatabase(file, Number(count ?? 1_000_000), Number(spacing ?? 100)).then((seeded) =>
    process.stdout.write(
      `${JSON.stringify({ ...seeded, seconds: (Date.now() - started) / 1000, bytes: fs.statSync(file).size })}\n`,
    ),
  );
}

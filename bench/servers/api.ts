/**
 * The partner API as the benchmark runs it: the production composition (startServer: app, delivery
 * worker, background checkpoints) on a fresh SQLite file, with one Pro workspace, an all-scopes key, and
 * BENCH_ASSISTANTS assistants, each with one subscription (filtered to it) to BENCH_RECEIVER_URL. Events
 * spread over the assistants therefore spread over the subscriptions. A second Pro workspace has one
 * assistant and BENCH_ASSISTANTS unfiltered subscriptions on the same trigger (several Zaps on one trigger),
 * so each of its events fans out to all of them. A third, the fairness phase's stalled workspace, has one
 * assistant and STALLED_SUBSCRIPTIONS subscriptions to BENCH_HANGING_URL, a receiver that never answers.
 * For the creating request's cost against its fan-out (issue 12 §3), one Pro workspace per size in
 * BENCH_FANOUT_SIZES (e.g. `1,100,1000`), each with one assistant and that many unfiltered subscriptions to
 * BENCH_RECEIVER_URL (the cap on active subscriptions per workspace is raised for it). BENCH_DB_PATH runs
 * the API on an existing file instead of a fresh one (the soak's pre-filled copy); BENCH_RETENTION_MS sets
 * how long events and deliveries are kept (the soak's short retention).
 * BENCH_DATABASE_URL runs it on PostgreSQL instead (the config's `databaseUrl`, ILLUMICHAT_DATABASE_URL in
 * production), for the bench's PostgreSQL columns; BENCH_JOIN=1 makes another instance on the same database:
 * it seeds nothing (the first instance did), runs its own delivery worker, and prints only its url, pid and
 * engine. Prints what the bench needs, with `engine` (the store it really opened, so a build that ignored the
 * URL cannot pass SQLite figures off as PostgreSQL's).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { loadConfig } from '../../partner-api/config';
import { createApiKey } from '../../partner-api/domain/api-keys';
import { SCOPES } from '../../partner-api/domain/credentials';
import { createSubscription } from '../../partner-api/domain/subscriptions';
import { createAssistant, createWorkspace } from '../../partner-api/domain/workspaces';
import { silentLogger } from '../../partner-api/lib/log';
import { startServer } from '../../partner-api/server';

/** Issue 8 §3's fault: one workspace's 16 Zaps to a receiver that never answers. */
const STALLED_SUBSCRIPTIONS = 16;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-bench-'));
  const base = loadConfig({});
  const retentionMs = process.env.BENCH_RETENTION_MS ? Number(process.env.BENCH_RETENTION_MS) : undefined;
  const fanOutSizes = (process.env.BENCH_FANOUT_SIZES ?? '').split(',').filter(Boolean).map(Number);
  const databaseUrl = process.env.BENCH_DATABASE_URL;
  const joining = process.env.BENCH_JOIN === '1';
  const config = loadConfig(
    {},
    {
      port: 0,
      dbPath: process.env.BENCH_DB_PATH ?? path.join(dir, 'bench.db'),
      databaseUrl,
      maxSubscriptionsPerWorkspace: Math.max(base.maxSubscriptionsPerWorkspace, ...fanOutSizes),
      retention:
        retentionMs === undefined
          ? base.retention
          : { ...base.retention, eventsMs: retentionMs, deliveriesMs: retentionMs },
      allowPrivateTargets: true,
      rateLimit: { perMinute: 1_000_000_000, burst: 1_000_000_000 },
      // Every widget conversation of the bench comes from one address.
      publicRateLimit: { perMinute: 1_000_000_000, burst: 1_000_000_000 },
      seedDemo: false,
      log: 'silent',
    },
  );
  const assistants: string[] = [];
  let key = '';
  let fanOutAssistant = '';
  let stalledAssistant = '';
  const fanOutBySize: Record<string, string> = {};
  const running = await startServer(config, silentLogger, {
    beforeListen: async (ctx) => {
      if (joining) return;
      const workspace = await createWorkspace(ctx, { name: 'Bench Workspace', plan: 'pro' });
      const created = await createApiKey(ctx, { workspaceId: workspace.id, name: 'bench', scopes: SCOPES });
      key = created.key;
      for (let i = 0; i < Number(process.env.BENCH_ASSISTANTS ?? 1); i++) {
        const assistant = await createAssistant(ctx, workspace.id, `Bench Bot ${i}`);
        assistants.push(assistant.id);
        await createSubscription(ctx, {
          workspaceId: workspace.id,
          apiKeyId: created.id,
          eventType: 'widget.conversation_started',
          targetUrl: `${process.env.BENCH_RECEIVER_URL}/hooks/${i}`,
          assistantId: assistant.id,
        });
      }
      const fanOut = await createWorkspace(ctx, { name: 'Bench Fan-out Workspace', plan: 'pro' });
      const fanOutKey = await createApiKey(ctx, { workspaceId: fanOut.id, name: 'bench', scopes: SCOPES });
      fanOutAssistant = (await createAssistant(ctx, fanOut.id, 'Bench Fan-out Bot')).id;
      for (let i = 0; i < Number(process.env.BENCH_ASSISTANTS ?? 1); i++) {
        await createSubscription(ctx, {
          workspaceId: fanOut.id,
          apiKeyId: fanOutKey.id,
          eventType: 'widget.conversation_started',
          targetUrl: `${process.env.BENCH_RECEIVER_URL}/fan-out/${i}`,
        });
      }
      for (const size of fanOutSizes) {
        const workspace = await createWorkspace(ctx, { name: `Bench ${size} Zaps`, plan: 'pro' });
        const apiKey = await createApiKey(ctx, { workspaceId: workspace.id, name: 'bench', scopes: SCOPES });
        fanOutBySize[size] = (await createAssistant(ctx, workspace.id, `Bench ${size} Zaps Bot`)).id;
        for (let i = 0; i < size; i++) {
          await createSubscription(ctx, {
            workspaceId: workspace.id,
            apiKeyId: apiKey.id,
            eventType: 'widget.conversation_started',
            targetUrl: `${process.env.BENCH_RECEIVER_URL}/zaps-${size}/${i}`,
          });
        }
      }
      const stalled = await createWorkspace(ctx, { name: 'Bench Stalled Workspace', plan: 'pro' });
      const stalledKey = await createApiKey(ctx, { workspaceId: stalled.id, name: 'bench', scopes: SCOPES });
      stalledAssistant = (await createAssistant(ctx, stalled.id, 'Bench Stalled Bot')).id;
      for (let i = 0; i < STALLED_SUBSCRIPTIONS; i++) {
        await createSubscription(ctx, {
          workspaceId: stalled.id,
          apiKeyId: stalledKey.id,
          eventType: 'widget.conversation_started',
          targetUrl: `${process.env.BENCH_HANGING_URL}/stalled/${i}`,
        });
      }
    },
  });
  const engine = running.ctx.store.engine;
  process.stdout.write(
    `${JSON.stringify(
      joining
        ? { url: running.url, pid: process.pid, engine }
        : {
            url: running.url,
            key,
            assistants,
            fanOutAssistant,
            stalledAssistant,
            fanOutBySize,
            pid: process.pid,
            engine,
          },
    )}\n`,
  );
  process.on('SIGTERM', () => {
    void running.stop().then(() => {
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

void main();

/**
 * The partner API as the benchmark runs it: the production composition (startServer: app, delivery
 * worker, background checkpoints) on a fresh SQLite file, with one Pro workspace, an all-scopes key, and
 * BENCH_ASSISTANTS assistants, each with one subscription (filtered to it) to BENCH_RECEIVER_URL. Events
 * spread over the assistants therefore spread over the subscriptions. A second Pro workspace has one
 * assistant and BENCH_ASSISTANTS unfiltered subscriptions on the same trigger (several Zaps on one trigger),
 * so each of its events fans out to all of them. A third, the fairness phase's stalled workspace, has one
 * assistant and STALLED_SUBSCRIPTIONS subscriptions to BENCH_HANGING_URL, a receiver that never answers.
 * Prints what the bench needs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { loadConfig } from '../../partner-api/config';
import { createApiKey } from '../../partner-api/domain/api-keys';
import { SCOPES } from '../../partner-api/domain/keys';
import { createSubscription } from '../../partner-api/domain/subscriptions';
import { createAssistant, createWorkspace } from '../../partner-api/domain/workspaces';
import { startServer } from '../../partner-api/server';

/** Issue 8 §3's fault: one workspace's 16 Zaps to a receiver that never answers. */
const STALLED_SUBSCRIPTIONS = 16;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-bench-'));
  const config = loadConfig(
    {},
    {
      port: 0,
      dbPath: path.join(dir, 'bench.db'),
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
  const running = await startServer(config, { info() {}, error() {} }, {
    beforeListen: (ctx) => {
      const workspace = createWorkspace(ctx, { name: 'Bench Workspace', plan: 'pro' });
      const created = createApiKey(ctx, { workspaceId: workspace.id, name: 'bench', scopes: SCOPES });
      key = created.key;
      for (let i = 0; i < Number(process.env.BENCH_ASSISTANTS ?? 1); i++) {
        const assistant = createAssistant(ctx, workspace.id, `Bench Bot ${i}`);
        assistants.push(assistant.id);
        createSubscription(ctx, {
          workspaceId: workspace.id,
          apiKeyId: created.id,
          eventType: 'widget.conversation_started',
          targetUrl: `${process.env.BENCH_RECEIVER_URL}/hooks/${i}`,
          assistantId: assistant.id,
        });
      }
      const fanOut = createWorkspace(ctx, { name: 'Bench Fan-out Workspace', plan: 'pro' });
      const fanOutKey = createApiKey(ctx, { workspaceId: fanOut.id, name: 'bench', scopes: SCOPES });
      fanOutAssistant = createAssistant(ctx, fanOut.id, 'Bench Fan-out Bot').id;
      for (let i = 0; i < Number(process.env.BENCH_ASSISTANTS ?? 1); i++) {
        createSubscription(ctx, {
          workspaceId: fanOut.id,
          apiKeyId: fanOutKey.id,
          eventType: 'widget.conversation_started',
          targetUrl: `${process.env.BENCH_RECEIVER_URL}/fan-out/${i}`,
        });
      }
      const stalled = createWorkspace(ctx, { name: 'Bench Stalled Workspace', plan: 'pro' });
      const stalledKey = createApiKey(ctx, { workspaceId: stalled.id, name: 'bench', scopes: SCOPES });
      stalledAssistant = createAssistant(ctx, stalled.id, 'Bench Stalled Bot').id;
      for (let i = 0; i < STALLED_SUBSCRIPTIONS; i++) {
        createSubscription(ctx, {
          workspaceId: stalled.id,
          apiKeyId: stalledKey.id,
          eventType: 'widget.conversation_started',
          targetUrl: `${process.env.BENCH_HANGING_URL}/stalled/${i}`,
        });
      }
    },
  });
  process.stdout.write(`${JSON.stringify({ url: running.url, key, assistants, fanOutAssistant, stalledAssistant })}\n`);
  process.on('SIGTERM', () => {
    void running.stop().then(() => {
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

void main();

/**
 * The partner API as the benchmark runs it: the real app and delivery worker on a fresh SQLite file, one
 * Pro workspace with an all-scopes key, an assistant, and subscriptions to the receiver given in
 * BENCH_RECEIVER_URL (BENCH_SUBSCRIPTIONS of them). Prints what the bench needs as one JSON line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApp } from '../../partner-api/app';
import { loadConfig } from '../../partner-api/config';
import { DeliverySignal, type AppContext } from '../../partner-api/context';
import { openDatabase } from '../../partner-api/db/open';
import { createDeliveryWorker } from '../../partner-api/delivery/worker';
import { createApiKey } from '../../partner-api/domain/api-keys';
import { SCOPES } from '../../partner-api/domain/keys';
import { createAssistant, createWorkspace } from '../../partner-api/domain/workspaces';
import { createSubscription } from '../../partner-api/domain/subscriptions';
import { systemClock } from '../../partner-api/lib/clock';

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'illumichat-bench-'));
  const config = loadConfig(
    {},
    {
      port: 0,
      dbPath: path.join(dir, 'bench.db'),
      allowPrivateTargets: true,
      rateLimit: { perMinute: 1_000_000_000, burst: 1_000_000_000 },
      seedDemo: false,
      log: 'silent',
    },
  );
  const silent = { info() {}, error() {} };
  const ctx: AppContext = { db: openDatabase(config.dbPath), clock: systemClock, config, signal: new DeliverySignal(), log: silent };
  const workspace = createWorkspace(ctx, { name: 'Bench Workspace', plan: 'pro' });
  const assistant = createAssistant(ctx, workspace.id, 'Bench Bot');
  const { id: keyId, key } = createApiKey(ctx, { workspaceId: workspace.id, name: 'bench', scopes: SCOPES });
  const receiver = process.env.BENCH_RECEIVER_URL;
  const count = Number(process.env.BENCH_SUBSCRIPTIONS ?? 0);
  for (let i = 0; receiver && i < count; i++) {
    createSubscription(ctx, {
      workspaceId: workspace.id,
      apiKeyId: keyId,
      eventType: 'widget.conversation_started',
      targetUrl: `${receiver}/hooks/${i}`,
    });
  }
  const worker = createDeliveryWorker(ctx);
  worker.start();
  const server = createApp(ctx).listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = address && typeof address === 'object' ? address.port : 0;
    process.stdout.write(`${JSON.stringify({ port, key, assistantId: assistant.id })}\n`);
  });
  process.on('SIGTERM', () => {
    server.close();
    void worker.stop().then(() => {
      ctx.db.close();
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

void main();

/**
 * `ts-node bench/samples-latency.ts FILE KEY ASSISTANT…`: GET /v1/samples latency on an existing database
 * (bench/seed-large.ts makes one), served by the real server in this process: without an assistant filter
 * and with each given assistant. Sequential calls after a warm-up; prints p50/p99/max in ms as JSON.
 */
import { loadConfig } from '../partner-api/config';
import { silentLogger } from '../partner-api/lib/log';
import { startServer } from '../partner-api/server';
import { percentile } from './paced';

const CALLS = Number(process.env.SAMPLES_CALLS ?? 200);

async function timeCalls(
  url: string,
  key: string,
  query: string,
): Promise<{ p50Ms: number; p99Ms: number; maxMs: number; source: string }> {
  const times: number[] = [];
  let source = '';
  for (let i = 0; i < CALLS + 5; i++) {
    const started = process.hrtime.bigint();
    const res = await fetch(`${url}/v1/samples?${query}`, { headers: { authorization: `Bearer ${key}` } });
    const body = (await res.json()) as { source: string };
    if (res.status !== 200) throw new Error(`GET /v1/samples?${query}: ${res.status} ${JSON.stringify(body)}`);
    source = body.source;
    if (i >= 5) times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 100) / 100;
  return {
    p50Ms: round(percentile(times, 50)),
    p99Ms: round(percentile(times, 99)),
    maxMs: round(times.at(-1)!),
    source,
  };
}

async function main(): Promise<void> {
  const [file, key, ...assistants] = process.argv.slice(2);
  if (!file || !key) throw new Error('usage: ts-node bench/samples-latency.ts FILE KEY ASSISTANT…');
  const opened = Date.now();
  const config = loadConfig({
    ...process.env,
    ILLUMICHAT_DB_PATH: file,
    ILLUMICHAT_NO_DEMO: '1',
    ILLUMICHAT_LOG: 'silent',
    PORT: '0',
    // Timing the query, not the per-key rate limit.
    ILLUMICHAT_RATE_LIMIT_PER_MINUTE: '100000000',
    ILLUMICHAT_RATE_LIMIT_BURST: '100000000',
  });
  const running = await startServer(config, silentLogger);
  const startMs = Date.now() - opened;
  const results: Record<string, unknown> = {
    startMs,
    unfiltered: await timeCalls(running.url, key, 'event_type=chat.conversation_started'),
  };
  for (const assistant of assistants) {
    results[assistant] = await timeCalls(
      running.url,
      key,
      `event_type=chat.conversation_started&assistant_id=${assistant}`,
    );
  }
  await running.stop();
  process.stdout.write(`${JSON.stringify(results, null, 1)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
  process.exit(1);
});

/**
 * The benchmark's webhook receiver: answers 200 at once and notes when each delivery arrived, keyed by
 * subscription and webhook-id, so lost and duplicated deliveries can be counted and commit-to-arrival
 * latency measured against the event's own createdAt (the API's commit time, same machine clock).
 */
import http from 'node:http';

export interface Arrival {
  path: string;
  webhookId: string;
  latencyMs: number;
}

export interface BenchReceiver {
  url: string;
  arrivals: Arrival[];
  reset(): void;
  close(): Promise<void>;
}

export async function startBenchReceiver(): Promise<BenchReceiver> {
  let arrivals: Arrival[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrivedAt = Date.now();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { createdAt: string };
      arrivals.push({
        path: req.url ?? '',
        webhookId: String(req.headers['webhook-id']),
        latencyMs: arrivedAt - Date.parse(body.createdAt),
      });
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    get arrivals() {
      return arrivals;
    },
    reset: () => {
      arrivals = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? NaN;
}

export interface HangingReceiver {
  url: string;
  /** Requests read so far (none is ever answered). */
  readonly requests: number;
  /** Destroys every held connection, so the API's attempts end at once, and stops listening. */
  close(): Promise<void>;
}

/** A receiver that reads each request and never answers: every attempt to it holds its slot until the API's timeout. */
export async function startHangingReceiver(): Promise<HangingReceiver> {
  let requests = 0;
  const server = http.createServer((req) => {
    req.resume();
    req.on('end', () => void (requests += 1));
  });
  server.requestTimeout = 0; // hang for as long as the sender waits
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

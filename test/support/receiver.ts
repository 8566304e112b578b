/**
 * In-process webhook receivers for tests: small HTTP servers on 127.0.0.1 (ephemeral port) that answer by
 * script and record every request. For the whole team's end-to-end tests.
 *
 *   const rx = await startReceiver();              // rx.url = http://127.0.0.1:<port>/hook; answers 200 by default
 *   rx.script(reply(500), reply(200));             // the next answers, in order; after them, the default
 *   rx.setDefault(reply(410));                     // change the answer mid-test
 *   const [first] = await rx.waitFor(1);           // polls until 1 request has arrived (default 5 s), else throws
 *   first.headers['webhook-id']; first.text; first.json(); first.body (raw Buffer); first.receivedAt
 *   await rx.close();                              // destroys every socket (hanging ones too); call in afterEach
 *
 * Behaviours (each answers one request):
 *   reply(status, { headers?, body?, delayMs? })   status with optional headers/body, after an optional delay
 *   retryAfter(status, value)                      reply(status) with a Retry-After header (seconds or HTTP date)
 *   hang()                                         reads the request and never answers (the sender's timeout)
 *   reset()                                        resets the TCP connection after reading the request
 *   redirect(location, status = 301)               a redirect with Location (a sender must not follow it)
 *   trickle(status, { chunks, intervalMs })        sends headers, then one body byte-chunk per interval
 *   (req) => Behaviour                             decide per request
 *
 * Every request is recorded when its body has been read, before it is answered: method, path, lower-cased
 * headers, raw body, and arrival times (receivedAt: Date.now() ms; monotonicMs: performance.now()).
 * `waitUntil(predicate, opts)` polls any condition (database rows, counters) the same way.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json(): unknown;
  /** When the request's headers arrived, Date.now() milliseconds. */
  receivedAt: number;
  /** The same moment on performance.now(), for latency measured within one process. */
  monotonicMs: number;
}

export type Behaviour =
  | { kind: 'reply'; status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'trickle'; status: number; chunks: number; intervalMs: number }
  | ((req: ReceivedRequest) => Behaviour | Promise<Behaviour>);

type Settled = Exclude<Behaviour, (r: ReceivedRequest) => unknown>;

export const reply = (
  status: number,
  opts: { headers?: Record<string, string>; body?: string; delayMs?: number } = {},
): Behaviour => ({ kind: 'reply', status, ...opts });
export const retryAfter = (status: number, value: string | number): Behaviour =>
  reply(status, { headers: { 'retry-after': String(value) } });
export const hang = (): Behaviour => ({ kind: 'hang' });
export const reset = (): Behaviour => ({ kind: 'reset' });
export const redirect = (location: string, status = 301): Behaviour => reply(status, { headers: { location } });
export const trickle = (status: number, opts: { chunks: number; intervalMs: number }): Behaviour => ({
  kind: 'trickle',
  status,
  ...opts,
});

export interface Receiver {
  /** http://127.0.0.1:<port>/hook */
  url: string;
  port: number;
  /** Every request so far, in arrival order. */
  requests: ReceivedRequest[];
  /** Queue answers for the next requests, in order; the default answers once the queue is empty. */
  script(...behaviours: Behaviour[]): void;
  setDefault(behaviour: Behaviour): void;
  /** Resolves with the requests once at least n have arrived; rejects after timeoutMs (default 5000). */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startReceiver(opts: { default?: Behaviour } = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const queue: Behaviour[] = [];
  let fallback: Behaviour = opts.default ?? reply(200, { body: 'ok' });
  const timers = new Set<NodeJS.Timeout>();

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };

  const server = http.createServer((req, res) => {
    const receivedAt = Date.now();
    const monotonicMs = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      const recorded: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        text,
        json: () => JSON.parse(text),
        receivedAt,
        monotonicMs,
      };
      requests.push(recorded);
      void decide(queue.shift() ?? fallback, recorded).then((b) => answer(b, req, res));
    });
  });

  /** A behaviour that is a function (possibly async: it may write to the API's database) decides per request. */
  async function decide(behaviour: Behaviour, recorded: ReceivedRequest): Promise<Settled> {
    while (typeof behaviour === 'function') behaviour = await behaviour(recorded);
    return behaviour;
  }

  function answer(b: Settled, req: http.IncomingMessage, res: http.ServerResponse) {
    switch (b.kind) {
      case 'reply': {
        const send = () => {
          if (res.destroyed) return;
          res.writeHead(b.status, b.headers);
          res.end(b.body ?? '');
        };
        if (b.delayMs) {
          const t = later(b.delayMs, send);
          res.on('close', () => clearTimeout(t));
        } else send();
        return;
      }
      case 'hang':
        return;
      case 'reset':
        req.socket.resetAndDestroy();
        return;
      case 'trickle': {
        res.writeHead(b.status, { 'content-type': 'text/plain' });
        let sent = 0;
        let timer: NodeJS.Timeout | undefined;
        // One close listener for the whole trickle (one per chunk piled up past Node's listener limit).
        res.on('close', () => clearTimeout(timer));
        const step = () => {
          if (res.destroyed) return;
          if (sent === b.chunks) return void res.end();
          sent += 1;
          res.write('.');
          timer = later(b.intervalMs, step);
        };
        step();
        return;
      }
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    requests,
    script: (...behaviours) => void queue.push(...behaviours),
    setDefault: (b) => void (fallback = b),
    waitFor: async (n, timeoutMs = 5000) => {
      await waitUntil(() => requests.length >= n, {
        timeoutMs,
        message: () => `expected ${n} request(s) at the receiver, got ${requests.length}`,
      });
      return requests;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls `predicate` until it is true (resolves) or timeoutMs passes (rejects with `message`). */
export async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; message?: string | (() => string) } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 5;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() >= deadline) {
      const message = typeof opts.message === 'function' ? opts.message() : opts.message;
      throw new Error(`${message ?? 'condition not met'} within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * One HTTP POST of a webhook, on node:http/https rather than fetch: we need the guarded `lookup` (the
 * address actually connected to must be public) and redirects must never be followed. Keep-alive agents
 * reuse connections per origin, which is most of the cost of a small POST on loopback or to Zapier.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

import { createLookup, firstRefusal, hostOf, type Resolve } from '../net/target-policy';
import { sign } from './signing';

export const USER_AGENT = 'IllumiChat-Webhooks/1';
/** What delivery_attempts keeps of a response body. */
export const RESPONSE_BODY_LIMIT = 4096;
/** Past this much response body we stop reading: the status has already decided. */
const RESPONSE_DRAIN_LIMIT = 64 * 1024;

export interface WebhookMessage {
  url: string;
  /** The event id: webhook-id, the same on every attempt, the receiver's dedup key. */
  eventId: string;
  eventType: string;
  /** The exact bytes of events.payload. */
  body: Buffer;
  /** The decoded signing key (signingKey(secret)). */
  key: Buffer;
  timestampSec: number;
}

export type SendResult =
  | {
      kind: 'response';
      status: number;
      retryAfter: string | undefined;
      location: string | undefined;
      /** The start of the response body, cut to RESPONSE_BODY_LIMIT bytes. */
      body: string;
      durationMs: number;
    }
  | { kind: 'error'; error: string; refused: boolean; timedOut: boolean; aborted: boolean; durationMs: number };

export interface Sender {
  send(message: WebhookMessage, signal?: AbortSignal): Promise<SendResult>;
  /** Closes idle keep-alive connections. */
  close(): void;
}

export function createSender(opts: {
  timeoutMs: number;
  allowPrivate: boolean;
  resolve?: Resolve | undefined;
}): Sender {
  const lookup = createLookup({ guard: !opts.allowPrivate, resolve: opts.resolve });
  // The agent closes an idle socket before the server's advertised Keep-Alive timeout, or after 15 s.
  const agents = {
    'http:': new http.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 15_000 }),
    'https:': new https.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 15_000 }),
  };

  function send(message: WebhookMessage, signal?: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let url: URL;
    try {
      url = new URL(message.url);
    } catch {
      return Promise.resolve(failure('target_url is not a valid URL', elapsed(), { refused: true }));
    }
    const protocol = url.protocol;
    if (protocol !== 'https:' && !(protocol === 'http:' && opts.allowPrivate)) {
      return Promise.resolve(failure('target_url must use https', elapsed(), { refused: true }));
    }
    const host = hostOf(url);
    // A literal IP never goes through `lookup`, so it is checked here.
    if (!opts.allowPrivate && net.isIP(host)) {
      const refusal = firstRefusal([host]);
      if (refusal) return Promise.resolve(failure(`target_url points at ${refusal}`, elapsed(), { refused: true }));
    }
    const headers = {
      'content-type': 'application/json',
      'content-length': message.body.length,
      'user-agent': USER_AGENT,
      'webhook-id': message.eventId,
      'webhook-timestamp': String(message.timestampSec),
      'webhook-signature': sign(message.key, message.eventId, message.timestampSec, message.body),
      'x-illumichat-event-type': message.eventType,
    };
    const deadline = started + opts.timeoutMs;

    return new Promise((resolve) => {
      let settled = false;
      const finish = (result: SendResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      let request: http.ClientRequest;
      try {
        request = (protocol === 'https:' ? https : http).request({
          protocol,
          hostname: host,
          port: url.port || undefined,
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          headers,
          agent: agents[protocol],
          lookup,
        });
      } catch (err) {
        // Options node:http refuses outright (a header value it will not send, say).
        settled = true;
        return resolve(errorResult(err as NodeJS.ErrnoException, elapsed()));
      }
      // One deadline for the whole exchange, a body trickled byte by byte included. The cause is kept
      // aside: destroying a request mid-response also surfaces as a reset on the response.
      let cause: NodeJS.ErrnoException | null = null;
      const stop = (code: string, message: string) => {
        cause = Object.assign(new Error(message), { code });
        request.destroy(cause);
      };
      const timer = setTimeout(
        () => stop('ETIMEDOUT_WEBHOOK', `no complete answer within ${opts.timeoutMs} ms`),
        Math.max(0, deadline - performance.now()),
      );
      const onAbort = () => stop('EABORTED_WEBHOOK', 'the worker stopped before the attempt finished');
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      const fail = (err: NodeJS.ErrnoException) => finish(errorResult(cause ?? err, elapsed()));

      request.on('response', (res) => {
        const kept: Buffer[] = [];
        let keptBytes = 0;
        let total = 0;
        const done = () =>
          finish({
            kind: 'response',
            status: res.statusCode ?? 0,
            retryAfter: headerValue(res.headers['retry-after']),
            location: headerValue(res.headers.location),
            body: Buffer.concat(kept).subarray(0, RESPONSE_BODY_LIMIT).toString('utf8'),
            durationMs: elapsed(),
          });
        res.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (keptBytes < RESPONSE_BODY_LIMIT) {
            kept.push(chunk);
            keptBytes += chunk.length;
          }
          if (total > RESPONSE_DRAIN_LIMIT) {
            done();
            request.destroy();
          }
        });
        res.on('end', done);
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) fail(new Error('the connection closed before the response was complete'));
        });
      });
      // A reset is a failed attempt even on a kept-alive socket: the receiver may have read the request,
      // so sending it again at once would hide the fault. The retry schedule takes it from here.
      request.on('error', fail);
      request.end(message.body);
    });
  }

  return {
    send,
    close: () => {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

function errorResult(err: NodeJS.ErrnoException, durationMs: number): SendResult {
  switch (err.code) {
    case 'ERR_TARGET_REFUSED':
      return failure(`target_url host ${err.message}`, durationMs, { refused: true });
    case 'ETIMEDOUT_WEBHOOK':
      return failure(`timeout: ${err.message}`, durationMs, { timedOut: true });
    case 'EABORTED_WEBHOOK':
      return failure(err.message, durationMs, { aborted: true });
    case 'ECONNREFUSED':
      return failure('connection refused', durationMs);
    case 'ECONNRESET':
      return failure('connection reset by the receiver', durationMs);
    case 'ENOTFOUND':
      return failure(`the host does not resolve (${err.message})`, durationMs);
    default:
      return failure(err.code ? `${err.code}: ${err.message}` : err.message, durationMs);
  }
}

function failure(
  error: string,
  durationMs: number,
  flags: { refused?: boolean; timedOut?: boolean; aborted?: boolean } = {},
): SendResult {
  return {
    kind: 'error',
    error,
    refused: !!flags.refused,
    timedOut: !!flags.timedOut,
    aborted: !!flags.aborted,
    durationMs,
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): a subscription's secret is `whsec_` plus
 * base64 of random bytes, and the HMAC key is those decoded bytes, not the text. Each delivery carries
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`, so a receiver
 * can check both who sent it and that it is not an old message replayed. Signing goes through the
 * `standardwebhooks` package, the reference implementation receivers verify with, so what we send is what
 * their library expects by construction.
 */
import crypto from 'node:crypto';

import { Webhook } from 'standardwebhooks';

const PREFIX = 'whsec_';
/** Receivers accept this much clock skew either way, as the Standard Webhooks libraries do. */
export const DEFAULT_TOLERANCE_SEC = 300;

/** A new signing secret for a subscription: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return PREFIX + crypto.randomBytes(32).toString('base64');
}

/** The HMAC key of a secret: the bytes its base64 (after an optional `whsec_`) decodes to. */
export function signingKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
}

/**
 * `v1,<base64>` for one message. `key` is a secret (`whsec_…`) or its decoded bytes (signingKey, as the
 * worker passes it); `timestampSec` is Unix seconds, the webhook-timestamp header; `body` is UTF-8 JSON.
 */
export function sign(key: Buffer | string, id: string, timestampSec: number, body: Buffer | string): string {
  const webhook = new Webhook(typeof key === 'string' ? signingKey(key) : key, { format: 'raw' });
  return webhook.sign(id, new Date(timestampSec * 1000), body);
}

type Headers = Record<string, string | string[] | undefined>;

/**
 * True when `headers` carry a valid signature of `body` by `secret`, with a timestamp within the tolerance
 * of `nowMs`. Several space-separated signatures are allowed (secret rotation); one valid one suffices.
 */
export function verifySignature(
  secret: string,
  headers: Headers,
  body: Buffer | string,
  opts: { toleranceSec?: number; nowMs?: number } = {},
): boolean {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  const now = Math.floor((opts.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - ts) > (opts.toleranceSec ?? DEFAULT_TOLERANCE_SEC)) return false;
  const expected = Buffer.from(sign(secret, id, ts, body).slice(3), 'base64');
  return signatures.split(' ').some((candidate) => {
    const [version, value] = candidate.split(',', 2);
    if (version !== 'v1' || !value) return false;
    const given = Buffer.from(value, 'base64');
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
}

function header(headers: Headers, name: string): string | undefined {
  const direct = headers[name] ?? Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(direct) ? direct[0] : direct;
}

/**
 * Checks that a delivery to a Zap's hook URL came from IllumiChat: every delivery is signed the Standard
 * Webhooks way with the subscription's secret, which subscribe returned and Zapier keeps in
 * `bundle.subscribeData`. Anyone who learns a hook URL could otherwise post made-up leads and tickets into
 * the Zap. Written here rather than shared with the API so the app ships nothing of the server.
 *
 * The timestamp is signed but its age is not checked: Zapier may run `perform` well after it received the
 * request, and dropping a real event is worse than accepting an old genuine one again.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type Verdict = { ok: true } | { ok: false; reason: string };

export interface RawDelivery {
  headers?: Record<string, unknown>;
  content?: unknown;
}

/** Zapier hands headers over as `Http-Webhook-Id`; a plain server would say `webhook-id`. Both are read. */
function headerReader(headers: Record<string, unknown>): (name: string) => string | undefined {
  const normalised = new Map<string, string>();
  for (const [key, value] of Object.entries(headers)) {
    const name = key
      .toLowerCase()
      .replace(/^http[-_]/, '')
      .replace(/_/g, '-');
    normalised.set(name, Array.isArray(value) ? String(value[0]) : String(value));
  }
  return (name) => normalised.get(name);
}

export function verifyDelivery(secret: string, raw: RawDelivery): Verdict {
  const header = headerReader(raw.headers ?? {});
  const id = header('webhook-id');
  const timestamp = header('webhook-timestamp');
  const signatures = header('webhook-signature');
  if (!id || !timestamp || !signatures)
    return { ok: false, reason: 'no webhook-id, webhook-timestamp or webhook-signature header' };
  if (typeof raw.content !== 'string') return { ok: false, reason: 'no raw body to check' };

  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${raw.content}`).digest();
  const matches = signatures.split(' ').some((candidate) => {
    const [version, value] = candidate.split(',', 2);
    if (version !== 'v1' || !value) return false;
    const given = Buffer.from(value, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return matches ? { ok: true } : { ok: false, reason: 'the signature does not match' };
}

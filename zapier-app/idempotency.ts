/**
 * The Idempotency-Key every create sends, so that Zapier re-running a step never creates twice.
 *
 * Zapier hands an action no run or step id it documents as stable across a replay (`bundle.meta.zap` is
 * deprecated and absent from actions). What a replay does keep is the step's input: autoreplay and manual
 * replay re-run the step with the same mapped values, so the same request. The key is therefore a hash of
 * the operation and the exact request (method, path, canonical body):
 * - a replay, or a retry after a timeout whose first attempt did commit, sends the same key, and IllumiChat
 *   answers with the first response instead of acting again;
 * - a different request can never share a key, so the API's 422 `idempotency_key_conflict` cannot happen;
 * - the same key also absorbs a duplicate hook delivery that re-runs the whole Zap (deliveries are at least
 *   once), as long as it arrives within IllumiChat's 24-hour idempotency window.
 * The cost: two genuinely separate runs that send byte-for-byte the same request within 24 hours get one
 * result. docs/zapier-app.md tells builders to map something that tells them apart (the trigger's ID).
 */
import { createHash } from 'node:crypto';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

export function idempotencyKey(operationKey: string, method: string, path: string, body: unknown): string {
  const digest = createHash('sha256')
    .update(`${method.toUpperCase()} ${path}\n${canonicalJson(body)}`)
    .digest('hex');
  return `zapier-${operationKey}-${digest}`;
}

/** JSON with object keys sorted at every depth: equal values always serialise to equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

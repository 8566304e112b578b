/**
 * The run key: how a create tells Zapier's replay of one run apart from a second run with the same input.
 *
 * zapier-platform-core 19's bundle carries no id of the Zap run (`bundle.meta` holds isLoadingSample, limit,
 * page, timezone and the like; `bundle.meta.zap` is deprecated and absent from actions), and Zapier's docs
 * name none that survives an autoreplay. A key derived from the request alone made two separate runs with the
 * same input one record, silently. So the app sends no automatic key. Instead each create offers the optional
 * Unique Run ID input: when the builder maps something unique to the run (the trigger's ID), it becomes the
 * Idempotency-Key, and a replay of that run (same trigger record, same input) is answered with the first
 * result instead of acting twice. Unmapped, every run acts, and a replay after a failure may act again.
 *
 * The key hashes the Unique Run ID together with the operation and the exact request, so the same run ID
 * mapped into two different steps of one Zap never collides into the API's 422 `idempotency_key_conflict`.
 */
import { createHash } from 'node:crypto';

import { defineInputField } from 'zapier-platform-core';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** The optional input of every create that makes something; its key is part of the app's public contract. */
export const RUN_KEY_FIELD = 'idempotency_key';

export const runKeyField = defineInputField({
  key: RUN_KEY_FIELD,
  label: 'Unique Run ID',
  required: false,
  helpText:
    'Optional. Map the trigger’s ID (or anything unique to this run) so that if Zapier replays this run, the step is not done twice. ' +
    'Leave blank and every run acts, even when two runs send the same values.',
});

/** The run ID the builder mapped, or undefined when the field is blank or unmapped. */
export function runKeyOf(inputData: Record<string, unknown>): string | undefined {
  const value = inputData[RUN_KEY_FIELD];
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

/**
 * `zapier-<operation>-<sha256 hex>` over the run ID, method, path and canonical body: at most 255 printable
 * ASCII characters whatever the run ID holds, as the API requires (docs/api.md).
 */
export function idempotencyKey(
  runKey: string,
  operationKey: string,
  method: string,
  path: string,
  body: unknown,
): string {
  const digest = createHash('sha256')
    .update(`${runKey}\n${method.toUpperCase()} ${path}\n${canonicalJson(body)}`)
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

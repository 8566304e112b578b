/**
 * Every create goes through here. A POST carries an Idempotency-Key only when the builder mapped a Unique Run
 * ID (idempotency.ts says why there is no automatic one). Updates (PATCH) never carry one: setting the same
 * values again is harmless by nature, while a remembered answer would be wrong once someone else changed the
 * record in between (a ticket resolved by a Zap, reopened by an agent, resolved again by the same Zap would
 * stay open).
 */
import type { ZObject } from 'zapier-platform-core';

import { IDEMPOTENCY_HEADER, idempotencyKey } from '../idempotency';

export interface WriteRequest {
  /** The create's key: it namespaces the Idempotency-Key, so two operations never share one. */
  operationKey: string;
  method: 'POST' | 'PATCH' | 'DELETE';
  path: string;
  /** Absent for a DELETE. */
  body?: Record<string, unknown>;
  /** The mapped Unique Run ID (POST only); undefined sends no Idempotency-Key. */
  runKey?: string | undefined;
}

/** Sends the write and returns the API's record as it answered (201 or 200); API errors throw translated. */
export async function writeRecord<T>(
  z: ZObject,
  { operationKey, method, path, body, runKey }: WriteRequest,
): Promise<T> {
  const headers: Record<string, string> =
    method === 'POST' && runKey
      ? { [IDEMPOTENCY_HEADER]: idempotencyKey(runKey, operationKey, method, path, body ?? {}) }
      : {};
  const response = await z.request<T>({ method, url: path, ...(body && { body }), headers });
  return response.data;
}

/**
 * Every create goes through here. Creates (POST) carry an Idempotency-Key derived from their request, so a
 * replay never creates twice. Updates (PATCH) carry none: setting the same values again is harmless by
 * nature, while a remembered answer would be wrong once someone else changed the record in between (a
 * ticket resolved by a Zap, reopened by an agent, resolved again by the same Zap would stay open).
 */
import type { ZObject } from 'zapier-platform-core';
import { IDEMPOTENCY_HEADER, idempotencyKey } from '../idempotency';

export interface WriteRequest {
  /** The create's key: it namespaces the Idempotency-Key, so two operations never share one. */
  operationKey: string;
  method: 'POST' | 'PATCH';
  path: string;
  body: Record<string, unknown>;
}

export async function writeRecord<T>(z: ZObject, { operationKey, method, path, body }: WriteRequest): Promise<T> {
  const headers: Record<string, string> =
    method === 'POST' ? { [IDEMPOTENCY_HEADER]: idempotencyKey(operationKey, method, path, body) } : {};
  const response = await z.request<T>({ method, url: path, body, headers });
  return response.data;
}

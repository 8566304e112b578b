/** Every create goes through here, so every one carries an Idempotency-Key derived from its request. */
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
  const response = await z.request<T>({
    method,
    url: path,
    body,
    headers: { [IDEMPOTENCY_HEADER]: idempotencyKey(operationKey, method, path, body) },
  });
  return response.data;
}

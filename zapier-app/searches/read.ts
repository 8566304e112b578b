/**
 * What the searches share: reading one record by id, where IllumiChat's 404 means "no such record" and is
 * an empty result (Zapier shows it as not found, and a search-or-create then creates), not an error.
 */
import type { ZObject } from 'zapier-platform-core';

import { throwApiError } from '../http/middleware';

/** The record at `path` as a one-item list, or [] when IllumiChat answers 404; other errors throw translated. */
export async function readById<T>(z: ZObject, path: string): Promise<T[]> {
  const response = await z.request<T>({ url: path, skipThrowForStatus: true });
  if (response.status === 404) return [];
  if (response.status >= 400) return throwApiError(z, response);
  return [response.data];
}

/** A mapped id or value: trimmed text, or undefined when blank or not given. */
export function textOf(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

/**
 * A request to a Zap's hook URL as Zapier hands it to a hook trigger's `perform` (zapier-platform-core 19,
 * /work/shared/engineering-notes.md): `cleanedRequest` is the parsed JSON body plus a `querystring` key, and
 * `rawRequest` carries the raw body as `content` and every header as `Http-Title-Case-Name`. Tests build
 * bundles with this rather than a bare body, so what perform returns is checked on what Zapier really gives.
 */

export interface ZapierHookRequest {
  cleanedRequest: Record<string, unknown>;
  rawRequest: { method: string; querystring: string; content: string; headers: Record<string, string> };
}

/** `webhook-id` → `Http-Webhook-Id`, as Zapier names headers in `rawRequest.headers`. */
export function zapierHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [
      `Http-${name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())}`,
      Array.isArray(value) ? value.join(', ') : String(value ?? ''),
    ]),
  );
}

/**
 * The hook request for this raw JSON body and these plain request headers. `query` is the hook URL's query
 * string, which Zapier parses into `cleanedRequest.querystring` (an empty object when there is none).
 */
export function zapierHookRequest(
  content: string,
  headers: Record<string, string | string[] | undefined> = { 'content-type': 'application/json' },
  query = '',
): ZapierHookRequest {
  const parsed = JSON.parse(content) as Record<string, unknown>;
  return {
    cleanedRequest: { ...parsed, querystring: Object.fromEntries(new URLSearchParams(query)) },
    rawRequest: { method: 'POST', querystring: query, content, headers: zapierHeaders(headers) },
  };
}

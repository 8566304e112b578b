/**
 * Logs must never hold a credential. Headers are never logged, but a path can carry one: a Zap that maps
 * its API key into an id field, or a token pasted into a URL. Whatever follows a credential prefix is
 * replaced before a path is logged: base62 for keys and agent tokens; for signing secrets, base64, whose
 * alphabet includes `/`, so the match runs across what a router would call path segments.
 */
const CREDENTIAL = /(wsk_live_|agt_tok_)[A-Za-z0-9%]*|(whsec_)[A-Za-z0-9+/=%]*/g;

export function redactPath(path: string): string {
  return path.replace(CREDENTIAL, (_match, keyPrefix?: string, secretPrefix?: string) => `${keyPrefix ?? secretPrefix}[redacted]`);
}

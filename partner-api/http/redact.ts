/**
 * Logs must never hold a credential. Headers are never logged, but a path can carry one: a Zap that maps
 * its API key into an id field, or a token pasted into a URL. Whatever follows a credential prefix, up to
 * the next path segment, is replaced before a path is logged.
 */
const CREDENTIAL = /(wsk_live_|agt_tok_|whsec_)[^/?#]*/g;

export function redactPath(path: string): string {
  return path.replace(CREDENTIAL, '$1[redacted]');
}

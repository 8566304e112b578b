/**
 * Logs must never hold a credential. Headers are never logged, but a path can carry one: a Zap that maps
 * its API key into an id field, or a token pasted into a URL. Whatever follows a credential prefix is
 * replaced before a path is logged: base62 for keys and agent tokens, base64url for sign-in link tokens
 * (`sgn_tok_`, domain/sessions.ts); for signing secrets, base64, whose
 * alphabet includes `/`, so the match runs across what a router would call path segments.
 *
 * A credential can arrive percent-encoded (`/v1/tickets/%77sk_live_…`, `wsk%5Flive_…`, `%2577sk…` twice
 * over), and the router decodes it into a parameter, so the search runs on the text decoded until nothing
 * more decodes. A text with no credential is returned exactly as given; one with a credential is returned
 * decoded, with the credential replaced.
 */
const PREFIXES = 'wsk_live_|agt_tok_|sgn_tok_|whsec_';
/**
 * A credential's body runs until a character outside its alphabet or the start of another credential: a
 * signing secret written straight against an agent token (`whsec_…agt_tok_…`, as the fuzz sent) would
 * otherwise swallow the token's `agt`, leave `_tok_…` unmatched, and log most of the token.
 */
const body = (alphabet: string) => `(?:(?!${PREFIXES})[${alphabet}])*`;
const CREDENTIAL = new RegExp(
  `(wsk_live_|agt_tok_)${body('A-Za-z0-9%')}|(sgn_tok_)${body('A-Za-z0-9_%-')}|(whsec_)${body('A-Za-z0-9+/=%')}`,
  'gi',
);
const CREDENTIAL_PREFIX = new RegExp(PREFIXES, 'i');
/** A run of percent-escapes, decoded together so that a multi-byte UTF-8 character comes out whole. */
const ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;
/** Each layer is at least 2 characters shorter per escape; the bound only stops pathological input early. */
const MAX_DECODE_LAYERS = 8;

/**
 * One layer of percent-decoding that never throws: bytes that are not UTF-8 (`%ff`, a cut-off sequence)
 * become U+FFFD, where decodeURIComponent would throw and leave the text undecoded.
 */
function decodeOnce(text: string): string {
  return text.replace(ESCAPES, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
}

function fullyDecoded(text: string): string {
  let current = text;
  for (let i = 0; i < MAX_DECODE_LAYERS; i++) {
    const next = decodeOnce(current);
    if (next === current) break;
    current = next;
  }
  return current;
}

/** Any logged text (a path, an error message or stack): the same text, or its credentials replaced. */
export function redactText(text: string): string {
  const decoded = fullyDecoded(text);
  if (!CREDENTIAL_PREFIX.test(decoded)) return text;
  return decoded.replace(
    CREDENTIAL,
    (_match, keyPrefix?: string, linkPrefix?: string, secretPrefix?: string) =>
      `${keyPrefix ?? linkPrefix ?? secretPrefix}[redacted]`,
  );
}

/** A request path (req.path, raw as it arrived) for a log line. */
export function redactPath(path: string): string {
  return redactText(path);
}

/** Every string value of a log line's fields redacted (one level: log fields are flat). */
export function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fields).map(([name, value]) => [name, typeof value === 'string' ? redactText(value) : value]),
  );
}

import fc from 'fast-check';

import { generateWebhookSecret } from '../../partner-api/delivery/signing';
import { generateAgentToken, generateApiKey } from '../../partner-api/domain/credentials';
import { redactFields, redactPath } from '../../partner-api/http/redact';
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { at } from '../support/items';

describe('redactPath', () => {
  it('removes an API key and an agent token, leaving the rest of the path', () => {
    expect(redactPath('/v1/tickets/wsk_live_AbC123xyz/assign')).toBe('/v1/tickets/wsk_live_[redacted]/assign');
    expect(redactPath('/v1/agent/agt_tok_Zz9?x=1')).toBe('/v1/agent/agt_tok_[redacted]?x=1');
  });

  it('removes the whole of a Settings sign-in token (base64url: - and _ included), as a path or a query', () => {
    const token = 'sgn_tok_Ab-c_D3-_xYz0123456789abcdefghijklmnopqrstuv';
    expect(redactPath(`/sign-in/${token}/x`)).toBe('/sign-in/sgn_tok_[redacted]/x');
    expect(redactPath(`/sign-in?token=${encodeURIComponent(token)}`)).toBe('/sign-in?token=sgn_tok_[redacted]');
  });

  it('removes the whole of a signing secret, although base64 may put a slash inside it', () => {
    const secret = 'whsec_ab/cd+ef/gh==';
    expect(redactPath(`/v1/subscriptions/${secret}`)).toBe('/v1/subscriptions/whsec_[redacted]');
    for (let i = 0; i < 50; i++) {
      const real = generateWebhookSecret();
      const logged = redactPath(`/v1/tickets/${real}/x`);
      expect(logged).not.toContain(real.slice('whsec_'.length, 'whsec_'.length + 8));
      expect(logged).not.toContain(real.slice(-8));
    }
  });
});

describe('redactPath on credentials written one against another', () => {
  /** One of each kind, its prefix in any letter case (the prefixes match case-insensitively). */
  const kinds = () => [
    generateApiKey(),
    generateAgentToken(),
    generateWebhookSecret(),
    `sgn_tok_${generateAgentToken().slice('agt_tok_'.length)}`,
  ];
  const bodyOf = (credential: string) => credential.slice(credential.indexOf('_', 4) + 1);
  const recase = (credential: string, upper: boolean) => {
    const cut = credential.indexOf('_', 4) + 1;
    const prefix = credential.slice(0, cut);
    return (upper ? prefix.toUpperCase() : prefix.replace(/^./, (c) => c.toUpperCase())) + credential.slice(cut);
  };

  it("redacts the fuzz's find: a signing secret run straight into an agent token (whSEc_…agt_tok_…)", () => {
    const secret = generateWebhookSecret().replace('whsec_', 'whSEc_');
    const token = generateAgentToken();
    const logged = redactPath(`/v1/conversations/${secret}${token}`);
    expect(logged).toBe('/v1/conversations/whSEc_[redacted]agt_tok_[redacted]');
  });

  it('redacts every ordered pair of kinds, touching, in any prefix case: no 8 characters of either body remain', () => {
    for (let round = 0; round < 10; round++) {
      for (const first of kinds())
        for (const second of kinds()) {
          const a = recase(first, round % 2 === 0);
          const b = recase(second, round % 3 === 0);
          const logged = redactPath(`/v1/tickets/${a}${b}/x`);
          for (const body of [bodyOf(first), bodyOf(second)])
            expect({ logged, leaked: logged.includes(body.slice(-8)) || logged.includes(body.slice(0, 8)) }).toEqual({
              logged,
              leaked: false,
            });
        }
    }
  });
});

/**
 * A credential can be percent-encoded in a path, and the router decodes it into a parameter: every
 * encoding of every character (lower- or upper-case hex, once or several times over) must be redacted.
 */
const CREDENTIALS = () => [generateApiKey(), generateAgentToken(), generateWebhookSecret()];

/** Percent-encodes `c` as UTF-8 bytes, in upper or lower hex, `times` times over (`%` becomes `%25`). */
function encodeChar(c: string, times: number, upper: boolean): string {
  let out = c;
  for (let i = 0; i < times; i++) {
    out = [...Buffer.from(out, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    out = upper ? out.toUpperCase() : out;
  }
  return out;
}

/** The secret part of a credential, in pieces long enough that finding one in a log means a leak. */
function secretPieces(credential: string): string[] {
  const secret = credential.slice(credential.indexOf('_', credential.indexOf('_') + 1) + 1);
  const pieces = [];
  for (let i = 0; i + 8 <= secret.length; i += 4) pieces.push(secret.slice(i, i + 8));
  return pieces;
}

/** Decodes until nothing more decodes, tolerantly, as an attacker reading the log would. */
function decodedAll(text: string): string {
  let current = text;
  for (;;) {
    const next = current.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) =>
      Buffer.from(run.replace(/%/g, ''), 'hex').toString('latin1'),
    );
    if (next === current) return current;
    current = next;
  }
}

describe('redactPath on percent-encoded credentials', () => {
  it('redacts the reported forms: %77sk_live_, wsk%5Flive_, agt%5Ftok_, whsec%5F, mixed-case hex, double encoding', () => {
    const [key, token, secret] = CREDENTIALS() as [string, string, string];
    const forms = [
      `%77${key.slice(1)}`,
      key.replace('wsk_', 'wsk%5F'),
      key.replace('wsk_', 'wsk%5f'),
      key.replace('_live_', '%5Flive%5f'),
      token.replace('agt_', 'agt%5F'),
      secret.replace('whsec_', 'whsec%5F'),
      `%2577${key.slice(1)}`, // the router decodes once, leaving %77…
      key.replace('wsk_', 'wsk%255F'),
      [...key].map((c) => encodeChar(c, 1, true)).join(''),
    ];
    for (const form of forms) {
      const logged = redactPath(`/v1/tickets/${form}/assign`);
      for (const piece of [key, token, secret].flatMap(secretPieces)) expect(decodedAll(logged)).not.toContain(piece);
      // A signing secret's base64 may hold `/`, so its redaction runs to the end of the path.
      expect(logged).toMatch(/^\/v1\/tickets\/(wsk_live_|agt_tok_|whsec_)\[redacted\](\/assign)?$/);
    }
  });

  it('redacts every encoding of every character (property)', () => {
    const encoding = fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.boolean()), { minLength: 80, maxLength: 80 });
    fc.assert(
      fc.property(fc.constantFrom(0, 1, 2), encoding, (which, plan) => {
        const credential = at(CREDENTIALS(), which);
        const encoded = [...credential]
          .map((c, i) => {
            const [how, upper] = at(plan, i);
            return encodeChar(c, how === 3 ? 0 : how, upper);
          })
          .join('');
        const logged = redactPath(`/v1/subscriptions/${encoded}`);
        for (const piece of secretPieces(credential)) expect(decodedAll(logged)).not.toContain(piece);
      }),
      { numRuns: 500 },
    );
  });

  it('leaves a path without a credential exactly as it came, escapes and all', () => {
    for (const path of [
      '/v1/tickets/tkt_%41bc',
      '/v1/contacts/%ff%fe',
      '/v1/x/%E0%A4%A',
      '/v1/caf%C3%A9',
      '/v1/wsk_/%5F',
    ]) {
      expect(redactPath(path)).toBe(path);
    }
  });

  it('redacts every string field of a log line, not only the path', () => {
    const key = generateApiKey();
    const fields = redactFields({
      path: '/v1/x',
      error: `URIError: Failed to decode param '%77${key.slice(1)}%ff'`,
      status: 404,
    });
    expect(fields.status).toBe(404);
    expect(decodedAll(String(fields.error))).not.toContain(key.slice(-12));
  });
});

describe('the debug request log, over HTTP', () => {
  let server: ApiServer;
  let key: string;
  beforeAll(async () => {
    server = await startApiServer({ config: { log: 'debug' } });
    key = (await server.setup()).key;
  });
  afterAll(async () => await server.close());

  it('holds no percent-encoded credential sent in a path, on any route, whatever the answer', async () => {
    const [leaked, token, secret] = CREDENTIALS() as [string, string, string];
    const forms = [
      `%77${leaked.slice(1)}`,
      leaked.replace('wsk_', 'wsk%5F'),
      token.replace('agt_', 'agt%5f'),
      secret.replace('whsec_', 'whsec%5F').replace(/\//g, '%2F'),
      `%2577${leaked.slice(1)}`,
      `%77${leaked.slice(1)}%ff`,
    ];
    const client = api(server.url, key);
    for (const form of forms) {
      await client.get(`/v1/tickets/${form}`);
      await client.patch(`/v1/tickets/${form}`, { status: 'open' });
      await client.delete(`/v1/subscriptions/${form}`);
      await api(server.url).post(`/v1/widget/conversations/${form}/lead`, { email: 'a@example.com' });
      await api(server.url).post(`/v1/${form}`, {});
    }
    expect(server.logs.filter((l) => l.message === 'request').length).toBeGreaterThanOrEqual(forms.length * 5);
    const text = decodedAll(JSON.stringify(server.logs));
    for (const credential of [leaked, token, secret]) {
      for (const piece of secretPieces(credential)) expect(text).not.toContain(piece);
    }
  });
});

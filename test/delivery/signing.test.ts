import { Webhook, WebhookVerificationError } from 'standardwebhooks';

import { generateWebhookSecret, sign, signingKey, verifySignature } from '../../partner-api/delivery/signing';

// The Standard Webhooks specification's published test vector: a receiver's stock library must accept ours.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const headers = (signature = VECTOR.signature, timestamp = String(VECTOR.timestamp)) => ({
  'webhook-id': VECTOR.id,
  'webhook-timestamp': timestamp,
  'webhook-signature': signature,
});
const at = { nowMs: VECTOR.timestamp * 1000 };

describe('webhook signatures', () => {
  it('reproduces the Standard Webhooks test vector, keyed by the base64-decoded secret', () => {
    expect(sign(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
    expect(sign(signingKey(VECTOR.secret), VECTOR.id, VECTOR.timestamp, Buffer.from(VECTOR.body))).toBe(
      VECTOR.signature,
    );
  });

  it('is accepted by the standardwebhooks library, as a receiver runs it, for a body in any script', () => {
    const secret = generateWebhookSecret();
    const nowSec = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ name: 'Zoë Ærøskøbing', note: '返信 ✓ 🚀' });
    const signed = (signature: string) => ({
      'webhook-id': 'evt_1',
      'webhook-timestamp': String(nowSec),
      'webhook-signature': signature,
    });
    const fromBytes = sign(signingKey(secret), 'evt_1', nowSec, Buffer.from(body, 'utf8'));
    expect(sign(secret, 'evt_1', nowSec, body)).toBe(fromBytes);
    expect(new Webhook(secret).verify(body, signed(fromBytes))).toEqual(JSON.parse(body));
    expect(() => new Webhook(generateWebhookSecret()).verify(body, signed(fromBytes))).toThrow(
      WebhookVerificationError,
    );
    expect(() => new Webhook(secret).verify(body.replace('Zoë', 'Zoe'), signed(fromBytes))).toThrow(
      WebhookVerificationError,
    );
  });

  it('verifies a good signature, also among several (secret rotation)', () => {
    expect(verifySignature(VECTOR.secret, headers(), VECTOR.body, at)).toBe(true);
    expect(verifySignature(VECTOR.secret, headers(`v1,bm9wZQ== ${VECTOR.signature}`), VECTOR.body, at)).toBe(true);
    expect(
      verifySignature(
        VECTOR.secret,
        {
          'Webhook-Id': VECTOR.id,
          'Webhook-Timestamp': String(VECTOR.timestamp),
          'Webhook-Signature': VECTOR.signature,
        },
        VECTOR.body,
        at,
      ),
    ).toBe(true);
  });

  it('rejects a changed body, another secret, another version, missing headers and stale or future timestamps', () => {
    expect(verifySignature(VECTOR.secret, headers(), '{"test": 2432232315}', at)).toBe(false);
    expect(verifySignature(generateWebhookSecret(), headers(), VECTOR.body, at)).toBe(false);
    expect(verifySignature(VECTOR.secret, headers(VECTOR.signature.replace('v1,', 'v2,')), VECTOR.body, at)).toBe(
      false,
    );
    expect(verifySignature(VECTOR.secret, { 'webhook-id': VECTOR.id }, VECTOR.body, at)).toBe(false);
    expect(verifySignature(VECTOR.secret, headers(), VECTOR.body, { nowMs: (VECTOR.timestamp + 301) * 1000 })).toBe(
      false,
    );
    expect(verifySignature(VECTOR.secret, headers(), VECTOR.body, { nowMs: (VECTOR.timestamp - 301) * 1000 })).toBe(
      false,
    );
    expect(verifySignature(VECTOR.secret, headers(), VECTOR.body, { nowMs: (VECTOR.timestamp + 299) * 1000 })).toBe(
      true,
    );
  });

  it('accepts a timestamp exactly at the tolerance either way, and a tolerance of the caller’s choosing', () => {
    expect(verifySignature(VECTOR.secret, headers(), VECTOR.body, { nowMs: (VECTOR.timestamp + 300) * 1000 })).toBe(
      true,
    );
    expect(verifySignature(VECTOR.secret, headers(), VECTOR.body, { nowMs: (VECTOR.timestamp - 300) * 1000 })).toBe(
      true,
    );
    expect(
      verifySignature(VECTOR.secret, headers(), VECTOR.body, {
        nowMs: (VECTOR.timestamp + 301) * 1000,
        toleranceSec: 301,
      }),
    ).toBe(true);
    expect(
      verifySignature(VECTOR.secret, headers(), VECTOR.body, { nowMs: (VECTOR.timestamp + 2) * 1000, toleranceSec: 1 }),
    ).toBe(false);
  });

  it('checks against the current time unless told otherwise', () => {
    const secret = generateWebhookSecret();
    const nowSec = Math.floor(Date.now() / 1000);
    const fresh = {
      'webhook-id': 'evt_1',
      'webhook-timestamp': String(nowSec),
      'webhook-signature': sign(secret, 'evt_1', nowSec, 'x'),
    };
    expect(verifySignature(secret, fresh, 'x')).toBe(true);
    expect(verifySignature(VECTOR.secret, headers(), VECTOR.body)).toBe(false); // signed in 2021
  });

  it.each([
    ['no webhook-id', { 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': VECTOR.signature }],
    ['no webhook-timestamp', { 'webhook-id': VECTOR.id, 'webhook-signature': VECTOR.signature }],
    ['no webhook-signature', { 'webhook-id': VECTOR.id, 'webhook-timestamp': String(VECTOR.timestamp) }],
    ['a timestamp with trailing text', headers(VECTOR.signature, `${VECTOR.timestamp}abc`)],
    ['a timestamp with leading text', headers(VECTOR.signature, `+${VECTOR.timestamp}`)],
    [
      'a timestamp with trailing space (not the text that was signed)',
      headers(VECTOR.signature, `${VECTOR.timestamp} `),
    ],
    ['a signature with no value', headers('v1,')],
    ['a signature with no version', headers(VECTOR.signature.slice(3))],
    ['a shorter signature', headers('v1,g0hM9SsE')],
  ])('rejects %s without throwing', (_, given) => {
    expect(verifySignature(VECTOR.secret, given, VECTOR.body, at)).toBe(false);
  });

  it('reads the first value of a repeated header', () => {
    const repeated = {
      'webhook-id': [VECTOR.id, 'other'],
      'webhook-timestamp': String(VECTOR.timestamp),
      'webhook-signature': [VECTOR.signature],
    };
    expect(verifySignature(VECTOR.secret, repeated, VECTOR.body, at)).toBe(true);
  });

  it('keys by the base64 after whsec_, and by plain base64 alike', () => {
    expect(signingKey(VECTOR.secret)).toEqual(signingKey(VECTOR.secret.slice('whsec_'.length)));
    expect(signingKey(VECTOR.secret)).toEqual(Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'));
  });

  it('makes secrets of whsec_ and 32 random bytes', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(signingKey(secret)).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);
  });
});

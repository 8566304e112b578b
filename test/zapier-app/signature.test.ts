import { createHmac } from 'node:crypto';

import { fixtureFor } from '../../fixtures';
import { generateWebhookSecret, sign as apiSign } from '../../partner-api/delivery/signing';
import { SKIP_SIGNATURE_CHECK } from '../../zapier-app/rest-hooks';
import { verifyDelivery } from '../../zapier-app/signature';
import * as leadCaptured from '../../zapier-app/triggers/lead_captured';
import { appTester, bundle, rejectionOf, useMockedApi } from './support/app';

useMockedApi();

const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const body = JSON.stringify(fixtureFor('lead.captured'));

/** Standard Webhooks, computed here independently of both the app and the API. */
function signature(key: string, id: string, timestamp: string, content: string): string {
  const mac = createHmac('sha256', Buffer.from(key.replace(/^whsec_/, ''), 'base64'));
  return `v1,${mac.update(`${id}.${timestamp}.${content}`).digest('base64')}`;
}

/** How Zapier hands a delivery's headers to perform: `Http-` and Title-Case. */
function zapierHeaders(id: string, timestamp: string, sig: string): Record<string, string> {
  return {
    'Http-Webhook-Id': id,
    'Http-Webhook-Timestamp': timestamp,
    'Http-Webhook-Signature': sig,
    'Http-Content-Type': 'application/json',
  };
}

describe('checking a delivery’s signature', () => {
  const sig = signature(secret, 'evt_1', '1790000000', body);

  it('accepts a delivery signed with the subscription’s secret, in Zapier’s header form or the plain one', () => {
    expect(verifyDelivery(secret, { headers: zapierHeaders('evt_1', '1790000000', sig), content: body })).toEqual({
      ok: true,
    });
    const plain = { 'webhook-id': 'evt_1', 'webhook-timestamp': '1790000000', 'webhook-signature': sig };
    expect(verifyDelivery(secret, { headers: plain, content: body })).toEqual({ ok: true });
  });

  it('accepts one valid signature among several (secret rotation)', () => {
    const headers = zapierHeaders('evt_1', '1790000000', `v1,bm90LXRoaXMtb25l ${sig}`);
    expect(verifyDelivery(secret, { headers, content: body })).toEqual({ ok: true });
  });

  it.each([
    [
      'a changed body',
      { headers: zapierHeaders('evt_1', '1790000000', sig), content: body.replace('Jane', 'Mallory') },
    ],
    ['a changed event id', { headers: zapierHeaders('evt_2', '1790000000', sig), content: body }],
    ['a changed timestamp', { headers: zapierHeaders('evt_1', '1790000001', sig), content: body }],
    [
      'another secret',
      {
        headers: zapierHeaders('evt_1', '1790000000', signature(generateWebhookSecret(), 'evt_1', '1790000000', body)),
        content: body,
      },
    ],
    ['another scheme', { headers: zapierHeaders('evt_1', '1790000000', sig.replace('v1,', 'v2,')), content: body }],
    ['no signature headers', { headers: { 'Http-Content-Type': 'application/json' }, content: body }],
    ['no raw body', { headers: zapierHeaders('evt_1', '1790000000', sig) }],
  ])('refuses %s', (_, raw) => {
    expect(verifyDelivery(secret, raw)).toMatchObject({ ok: false });
  });

  it('verifies what the partner API signs', () => {
    const apiSecret = generateWebhookSecret();
    const headers = zapierHeaders('evt_9', '1790000000', apiSign(apiSecret, 'evt_9', 1790000000, body));
    expect(verifyDelivery(apiSecret, { headers, content: body })).toEqual({ ok: true });
  });
});

describe('perform with a signed subscription', () => {
  const subscribeData = { id: 'sub_1', secret };
  const delivered = fixtureFor('lead.captured');
  const signed = {
    content: body,
    headers: zapierHeaders('evt_1', '1790000000', signature(secret, 'evt_1', '1790000000', body)),
  };
  /** Zapier's cleaned request: the parsed body plus the hook URL's parsed query string. */
  const cleanedRequest = { ...delivered, querystring: {} };

  afterEach(() => {
    delete process.env[SKIP_SIGNATURE_CHECK];
  });

  it('returns the record of a genuine delivery', async () => {
    const records = await appTester(
      leadCaptured.perform,
      bundle({ subscribeData, cleanedRequest, rawRequest: signed }),
    );
    expect(records).toEqual([delivered]);
  });

  it('halts on a forged request, so it neither runs the Zap nor counts against it', async () => {
    const forged = { content: body, headers: { 'Http-Content-Type': 'application/json' } };
    const error = await rejectionOf(
      appTester(leadCaptured.perform, bundle({ subscribeData, cleanedRequest, rawRequest: forged })),
    );
    expect(error.name).toBe('HaltedError');
    expect(error.message).toMatch(/did not sign/);
  });

  it('can be switched off by an operator when checks misfire', async () => {
    process.env[SKIP_SIGNATURE_CHECK] = '1';
    const records = await appTester(leadCaptured.perform, bundle({ subscribeData, cleanedRequest, rawRequest: {} }));
    expect(records).toEqual([delivered]);
  });
});

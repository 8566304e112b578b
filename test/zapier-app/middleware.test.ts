import nock from 'nock';
import type { Bundle, ZObject } from 'zapier-platform-core';

import { apiBaseUrl, DEFAULT_API_URL } from '../../zapier-app/config';
import { perform as createTicket } from '../../zapier-app/creates/create_ticket';
import { OPERATION_HEADER, operationName } from '../../zapier-app/http/middleware';
import { performSubscribe } from '../../zapier-app/triggers/lead_captured';
import { api, API_KEY, API_URL, appTester, bundle, useMockedApi } from './support/app';

useMockedApi();

describe('every request to IllumiChat', () => {
  afterEach(() => {
    process.env.ILLUMICHAT_API_URL = API_URL;
  });

  it('goes to https://api.illumichat.com when ILLUMICHAT_API_URL is not set', async () => {
    delete process.env.ILLUMICHAT_API_URL;
    expect(apiBaseUrl()).toBe(DEFAULT_API_URL);
    nock(DEFAULT_API_URL).get('/v1/ping').reply(200, { ok: true });
    await appTester(async (z: ZObject) => (await z.request({ url: '/v1/ping' })).data, bundle());
  });

  it('goes to ILLUMICHAT_API_URL, with or without a trailing slash', async () => {
    process.env.ILLUMICHAT_API_URL = 'http://127.0.0.1:3999/';
    expect(apiBaseUrl()).toBe('http://127.0.0.1:3999');
    nock('http://127.0.0.1:3999').get('/v1/ping').reply(200, { ok: true });
    await appTester(async (z: ZObject) => (await z.request({ url: '/v1/ping' })).data, bundle());
  });

  it('carries the key, asks for JSON and names the operation that called', async () => {
    api()
      .post('/v1/subscriptions')
      .matchHeader('authorization', `Bearer ${API_KEY}`)
      .matchHeader('accept', 'application/json')
      .matchHeader('content-type', /application\/json/)
      .matchHeader(OPERATION_HEADER, 'triggers.lead_captured.performSubscribe')
      .reply(201, { id: 'sub_1' });
    api()
      .post('/v1/tickets')
      .matchHeader(OPERATION_HEADER, 'creates.create_ticket.perform')
      .reply(201, { id: 'tkt_1' });

    await appTester(performSubscribe, bundle({ targetUrl: 'https://hooks.zapier.com/hooks/standard/1/abc/' }));
    await appTester(createTicket, bundle({ inputData: { subject: 'Hi' } }));
  });

  it('never sends the key to any other host', async () => {
    nock('https://elsewhere.example', { badheaders: ['authorization'] })
      .get('/file')
      .reply(200, 'ok');
    await appTester(
      async (z: ZObject) => (await z.request({ url: 'https://elsewhere.example/file' })).content,
      bundle(),
    );
  });

  it('names operations without the schema’s `operation` segment', () => {
    expect(operationName('creates.send_message.operation.perform')).toBe('creates.send_message.perform');
    expect(operationName('authentication.test')).toBe('authentication.test');
    expect(operationName(undefined)).toBe('unknown');
  });

  it('passes successful answers through untouched', async () => {
    api()
      .get('/v1/ping')
      .reply(200, { deep: { value: [1, 2] } });
    const data = await appTester(
      async (z: ZObject, _b: Bundle) => (await z.request({ url: '/v1/ping' })).data,
      bundle(),
    );
    expect(data).toEqual({ deep: { value: [1, 2] } });
  });
});

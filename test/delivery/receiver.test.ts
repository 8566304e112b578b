/** The test receiver itself: the whole team's end-to-end tests lean on it answering exactly as scripted. */
import http from 'node:http';

import { hang, type Receiver, redirect, reply, reset, retryAfter, startReceiver, trickle } from '../support/receiver';

function post(
  url: string,
  body: string,
  timeoutMs = 2000,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('test receiver', () => {
  let rx: Receiver;
  beforeEach(async () => {
    rx = await startReceiver();
  });
  afterEach(() => rx.close());

  it('answers the script in order, then the default, and records each request', async () => {
    rx.script(reply(500), retryAfter(429, 7), redirect('http://example.com/elsewhere'));
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await post(rx.url, `{"n":${i}}`));
    expect(statuses.map((r) => r.status)).toEqual([500, 429, 301, 200]);
    expect(statuses[1]?.headers['retry-after']).toBe('7');
    expect(statuses[2]?.headers.location).toBe('http://example.com/elsewhere');
    const requests = await rx.waitFor(4);
    expect(requests.map((r) => r.json())).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }]);
    expect(requests[0]).toMatchObject({
      method: 'POST',
      path: '/hook',
      headers: { 'content-type': 'application/json' },
    });
  });

  it('resets, hangs and trickles on request', async () => {
    rx.script(reset(), hang(), trickle(200, { chunks: 3, intervalMs: 10 }));
    await expect(post(rx.url, '{}')).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(post(rx.url, '{}', 100)).rejects.toThrow('client timeout');
    await expect(post(rx.url, '{}')).resolves.toMatchObject({ status: 200, body: '...' });
  });

  it('waitFor rejects with the count when too few requests arrive', async () => {
    await expect(rx.waitFor(1, 30)).rejects.toThrow('expected 1 request(s) at the receiver, got 0 within 30 ms');
  });
});

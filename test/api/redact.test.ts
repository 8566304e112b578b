import { generateWebhookSecret } from '../../partner-api/delivery/signing';
import { redactPath } from '../../partner-api/http/redact';

describe('redactPath', () => {
  it('removes an API key and an agent token, leaving the rest of the path', () => {
    expect(redactPath('/v1/tickets/wsk_live_AbC123xyz/assign')).toBe('/v1/tickets/wsk_live_[redacted]/assign');
    expect(redactPath('/v1/agent/agt_tok_Zz9?x=1')).toBe('/v1/agent/agt_tok_[redacted]?x=1');
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

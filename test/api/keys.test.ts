/** The key format: what a typo, a copy of the stored row, or a guess can and cannot do. */
import fc from 'fast-check';

import {
  displayPrefix,
  generateAgentToken,
  generateApiKey,
  hashSecret,
  isWellFormedApiKey,
} from '../../partner-api/domain/credentials';
import { BASE62 } from '../../partner-api/lib/base62';
import { api, startApiServer } from '../support/api-server';

describe('API key format', () => {
  it('is wsk_live_ + 32 base62 + a 6-character checksum', () => {
    for (let i = 0; i < 200; i++) {
      const key = generateApiKey();
      expect(key).toMatch(/^wsk_live_[0-9A-Za-z]{38}$/);
      expect(isWellFormedApiKey(key)).toBe(true);
    }
  });

  it('never repeats (190 random bits)', () => {
    const keys = new Set(Array.from({ length: 5000 }, generateApiKey));
    expect(keys.size).toBe(5000);
  });

  it('uses every base62 character in the random part', () => {
    const seen = new Set(Array.from({ length: 300 }, () => generateApiKey().slice(9, 41)).join(''));
    expect(seen.size).toBe(62);
  });

  it('catches every single-character typo', () => {
    fc.assert(
      fc.property(fc.integer({ min: 9, max: 46 }), fc.constantFrom(...BASE62), (position, replacement) => {
        const key = generateApiKey();
        fc.pre(key[position] !== replacement);
        const typo = key.slice(0, position) + replacement + key.slice(position + 1);
        return !isWellFormedApiKey(typo);
      }),
      { numRuns: 2000 },
    );
  });

  it('catches every swap of two neighbouring different characters', () => {
    fc.assert(
      fc.property(fc.integer({ min: 9, max: 45 }), (position) => {
        const key = generateApiKey();
        fc.pre(key[position] !== key[position + 1]);
        const swapped = key.slice(0, position) + key[position + 1] + key[position] + key.slice(position + 2);
        return !isWellFormedApiKey(swapped);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses other prefixes, lengths and characters', () => {
    const key = generateApiKey();
    for (const bad of [
      key.replace('wsk_live_', 'wsk_test_'),
      key.slice(0, -1),
      `${key}a`,
      key.replace(/.$/, '-'),
      ` ${key}`,
      '',
    ]) {
      expect(isWellFormedApiKey(bad)).toBe(false);
    }
  });

  it('shows only the prefix and 4 characters for display', () => {
    const key = generateApiKey();
    expect(displayPrefix(key)).toBe(key.slice(0, 13));
  });

  it('makes agent tokens that look nothing like API keys', () => {
    const token = generateAgentToken();
    expect(token).toMatch(/^agt_tok_[0-9A-Za-z]{38}$/);
    expect(isWellFormedApiKey(token)).toBe(false);
  });
});

describe('API key storage', () => {
  it('stores only the SHA-256 of the key, and the key works', async () => {
    const server = await startApiServer();
    try {
      const ws = await server.createWorkspace();
      const { id, key } = await server.createKeyRecord(ws.id);
      const row = (await server.ctx.db.one<Record<string, unknown>>('SELECT * FROM api_keys WHERE id = ?', id))!;
      expect(row.secret_hash).toBe(hashSecret(key));
      expect(row.secret_hash).toMatch(/^[0-9a-f]{64}$/);
      for (const value of Object.values(row)) expect(String(value)).not.toContain(key.slice(13));
      expect((await api(server.url, key).get('/v1/me')).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

import { newId } from '../../partner-api/lib/ids';

describe('newId', () => {
  it('is the prefix, 12 hex digits of the current millisecond, then 12 random hex digits', () => {
    const before = Date.now();
    const id = newId('tkt');
    const after = Date.now();
    expect(id).toMatch(/^tkt_[0-9a-f]{24}$/);
    const ms = parseInt(id.slice(4, 16), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
  });

  it('never repeats, across many refills of its random pool within the same milliseconds', () => {
    // 4 KiB of pool gives 682 ids; 50,000 ids cross it ~70 times, mostly within a few milliseconds.
    const ids = Array.from({ length: 50_000 }, () => newId('evt'));
    expect(new Set(ids).size).toBe(ids.length);
    const randomHalves = new Set(ids.map((id) => id.slice(-12)));
    expect(randomHalves.size).toBe(ids.length);
  });

  it('sorts by creation time, so index inserts append', () => {
    const first = newId('dlv');
    const later = (() => {
      const start = Date.now();
      while (Date.now() === start);
      return newId('dlv');
    })();
    expect(first.slice(0, 16) < later.slice(0, 16)).toBe(true);
  });
});

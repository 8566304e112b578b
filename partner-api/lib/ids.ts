import crypto from 'node:crypto';

/**
 * A prefixed id: 48 bits of milliseconds then 48 bits that start random, as 24 hex characters (`tkt_019a…`).
 * Time first makes every index insert land on the rightmost page instead of a random one, which cut the
 * WAL written per event by about a quarter. Ids are not credentials (every lookup is scoped to the caller's
 * workspace); the random half keeps ids made in the same millisecond apart, across processes too.
 *
 * Within one process ids only grow: in the same millisecond (or if the clock steps back) the low half is the
 * previous one plus one. Lists page by (time, id) on both engines, so records made in one millisecond keep
 * the order they were made in, as SQLite's rowid kept it before (migration 011).
 */
export function newId(prefix: string): string {
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    // 47 random bits: 2^47 increments of headroom within one millisecond before the 48 bits would overflow.
    lastLow = Number.parseInt(randomHex6(), 16) % 2 ** 47;
  } else {
    lastLow += 1;
  }
  const time = lastMs.toString(16).padStart(12, '0').slice(-12);
  return `${prefix}_${time}${lastLow.toString(16).padStart(12, '0')}`;
}

let lastMs = 0;
let lastLow = 0;

// One call into the CSPRNG per 4 KiB instead of one per id: a call per id was ~3% of the API's CPU at a
// thousand events a second. Bytes are taken once each and never reused.
const POOL_BYTES = 4096;
const ID_RANDOM_BYTES = 6;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

function randomHex6(): string {
  if (offset + ID_RANDOM_BYTES > POOL_BYTES) {
    crypto.randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + ID_RANDOM_BYTES);
  offset += ID_RANDOM_BYTES;
  return hex;
}

/** Orders ids (or any strings) by UTF-16 code units, as `<` does: the same order on every machine (not localeCompare). */
export const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

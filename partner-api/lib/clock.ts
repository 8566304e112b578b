/** Time comes from here so tests can move it (retry schedules, idempotency expiry, key last-used). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export function isoAt(ms: number): string {
  return new Date(ms).toISOString();
}

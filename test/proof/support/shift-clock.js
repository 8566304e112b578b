// Preloaded (node --require) into an API child process to run its clock PROOF_CLOCK_OFFSET_MS ahead: the
// API reads time through Date.now (partner-api/lib/clock.ts), so this is "the same process, started later",
// e.g. the retry of an idempotent request that arrives after a dead request's 30-second claim has gone stale.
const offset = Number(process.env.PROOF_CLOCK_OFFSET_MS || 0);
if (offset) {
  const realNow = Date.now;
  Date.now = () => realNow() + offset;
}

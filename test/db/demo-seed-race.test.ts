/**
 * Two instances started together on one empty PostgreSQL database (./dev start-pg does exactly that) make one
 * demo workspace, not two (partner-api/seed/demo.ts): under READ COMMITTED both would see no workspace and
 * both seed, unless the second waits for the first's commit (its advisory lock). Each instance is its own
 * store, its own pool, as two processes would be.
 */
import { loadConfig } from '../../partner-api/config';
import { createAppContext } from '../../partner-api/context';
import { openPgStore } from '../../partner-api/db/pg-store';
import { seedDemoIfEmpty } from '../../partner-api/seed/demo';
import { closeAfterFile, freshPgDatabaseUrl, PG_SETUP_TIMEOUT_MS } from '../support/pg';

const ROUNDS = 5;
const INSTANCES = 4;

it(
  `${INSTANCES} instances seeding one empty database at once make one demo workspace (${ROUNDS} databases)`,
  async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const url = await freshPgDatabaseUrl();
      const contexts = await Promise.all(
        Array.from({ length: INSTANCES }, async () =>
          createAppContext({ store: closeAfterFile(await openPgStore(url, { max: 2 })), config: loadConfig({}) }),
        ),
      );
      const seeds = await Promise.all(contexts.map((ctx) => seedDemoIfEmpty(ctx)));
      expect({ round, seeded: seeds.filter((s) => s !== null).length }).toEqual({ round, seeded: 1 });
      expect({ round, workspaces: await contexts[0]!.db.value('SELECT COUNT(*) FROM workspaces') }).toEqual({
        round,
        workspaces: 1,
      });
      await Promise.all(contexts.map((ctx) => ctx.store.close()));
    }
  },
  PG_SETUP_TIMEOUT_MS,
);

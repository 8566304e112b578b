/**
 * Jest's global tear-down for PostgreSQL (jest.config.js `globalTeardown`): drops the run's template and every
 * database cloned from it that a test file left behind (a worker that crashed before its afterAll), and stops
 * the cluster the global set-up started, if it started one.
 */
import pg from 'pg';

import { dropDatabase, stopCluster, testClusterUrl } from './pg';

export default async function pgGlobalTeardown(): Promise<void> {
  const url = testClusterUrl();
  const template = process.env.ILLUMICHAT_TEST_TEMPLATE_DATABASE;
  if (url && template) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    let names: string[];
    try {
      // Clones are named "<template>_f_…" (test/support/pg.ts freshPgDatabaseUrl).
      const { rows } = await client.query<{ datname: string }>(
        'SELECT datname FROM pg_database WHERE datname = $1 OR starts_with(datname, $2)',
        [template, `${template}_f_`],
      );
      names = rows.map((row) => row.datname);
    } finally {
      await client.end();
    }
    for (const name of names) await dropDatabase(url, name);
  }
  const ownCluster = process.env.ILLUMICHAT_PG_CLUSTER_STARTED_BY_JEST;
  if (ownCluster) await stopCluster(ownCluster);
}

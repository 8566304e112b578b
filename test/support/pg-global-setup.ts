/**
 * Jest's global set-up for PostgreSQL (jest.config.js `globalSetup`): when the run has a cluster
 * (ILLUMICHAT_TEST_DATABASE_URL), one migrated template database for the whole run, its name handed to every
 * worker in ILLUMICHAT_TEST_TEMPLATE_DATABASE (workers start after this and inherit the environment); each
 * test file clones it (test/support/pg.ts). With ILLUMICHAT_TEST_ENGINE=postgres and no cluster, it starts a
 * private one for the run (scripts/pg-cluster.sh). Otherwise it does nothing: a SQLite run pays nothing here.
 */
import { createMigratedDatabase, startCluster, testClusterUrl, uniqueDatabaseName } from './pg';
import { testEngine } from './test-store';

export default async function pgGlobalSetup(): Promise<void> {
  let url = testClusterUrl();
  if (!url && testEngine() === 'postgres') {
    const cluster = await startCluster();
    process.env.ILLUMICHAT_TEST_DATABASE_URL = url = cluster.url;
    process.env.ILLUMICHAT_PG_CLUSTER_STARTED_BY_JEST = cluster.dir;
  }
  if (!url) return;
  const template = uniqueDatabaseName('illumichat_tpl');
  await createMigratedDatabase(url, template);
  process.env.ILLUMICHAT_TEST_TEMPLATE_DATABASE = template;
}

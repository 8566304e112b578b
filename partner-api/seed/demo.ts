/**
 * The demo workspace made on a first start with an empty database, so `./dev start` gives something to
 * connect Zapier to at once. Its secrets are returned to be printed this once: only hashes are stored.
 */
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { createApiKey } from '../domain/api-keys';
import { SCOPES } from '../domain/credentials';
import { createSignInLink, signInUrl } from '../domain/sessions';
import { createAgent, createAssistant, createWorkspace, isEmptyDatabase } from '../domain/workspaces';

export interface DemoSeed {
  workspace: { id: string; name: string; plan: string };
  apiKey: { id: string; key: string; scopes: readonly string[] };
  assistants: { id: string; name: string }[];
  agents: { id: string; name: string; email: string; token: string }[];
  /** A one-time sign-in token to Settings for the first agent, the workspace's owner. */
  ownerSignIn: { agentId: string; token: string; expiresAt: string };
}

/** The transaction-scoped advisory lock two PostgreSQL instances seeding at once take turns on (any bigint
 * no other lock uses; db/pg-migrate.ts's is another). */
const SEED_LOCK_KEY = 0x1_11c4a7_5eed;

/**
 * Seeds only an empty database (no workspace at all); null otherwise. One transaction, so two starts cannot
 * both seed: SQLite's single writer orders them; on PostgreSQL, where two instances started together would
 * both see an empty table under READ COMMITTED, the second waits on an advisory lock until the first commits.
 */
export async function seedDemoIfEmpty(ctx: AppContext): Promise<DemoSeed | null> {
  return await inTransaction(ctx, async (ctx) => {
    if (ctx.db.engine === 'postgres') await ctx.db.value('SELECT pg_advisory_xact_lock(?)', SEED_LOCK_KEY);
    if (!(await isEmptyDatabase(ctx))) return null;
    const workspace = await createWorkspace(ctx, { name: 'Demo Workspace', plan: 'pro' });
    const assistants = [
      await createAssistant(ctx, workspace.id, 'Website Assistant'),
      await createAssistant(ctx, workspace.id, 'In-App Assistant'),
    ];
    const agents = [
      await createAgent(ctx, workspace.id, { name: 'Sam Rivera', email: 'sam@demo.illumichat.test', role: 'owner' }),
      await createAgent(ctx, workspace.id, { name: 'Kim Lee', email: 'kim@demo.illumichat.test' }),
    ].map(({ id, name, email, token }) => ({ id, name, email, token }));
    const key = await createApiKey(ctx, { workspaceId: workspace.id, name: 'Demo key (all scopes)', scopes: SCOPES });
    const owner = agents[0]!; // made just above
    const link = await createSignInLink(ctx, owner.id);
    return {
      workspace: { id: workspace.id, name: workspace.name, plan: workspace.plan },
      apiKey: { id: key.id, key: key.key, scopes: key.scopes },
      assistants,
      agents,
      ownerSignIn: { agentId: owner.id, token: link.token, expiresAt: link.expiresAt },
    };
  });
}

/** For people: labelled, with the API key alone on its own line so a script can pick it out. `baseUrl` is
 * where the API listens (for the Settings sign-in link). */
export function describeDemoSeed(seed: DemoSeed, baseUrl: string): string {
  return [
    '',
    '=== First start: created the demo workspace. These secrets are shown ONCE; only their hashes are kept. ===',
    `Workspace: ${seed.workspace.name} (${seed.workspace.id}), ${seed.workspace.plan} plan`,
    `Assistants: ${seed.assistants.map((a) => `${a.name} (${a.id})`).join(', ')}`,
    `API key for Zapier, scopes ${seed.apiKey.scopes.join(' ')}:`,
    seed.apiKey.key,
    'Agent console tokens (for the /v1/agent/... endpoints):',
    ...seed.agents.map((a) => `  ${a.name} <${a.email}> (${a.id}): ${a.token}`),
    `Settings (API keys, connected Zaps, delivery log): sign in as the owner, ${seed.agents[0]?.name ?? ''}, with this one-time link (until ${seed.ownerSignIn.expiresAt}):`,
    `  ${signInUrl(baseUrl, seed.ownerSignIn.token)}`,
    // --base-url: the CLI's own default is PORT/HOST of its environment, not this server's (started with PORT=…).
    `  A new link: ./dev admin agent sign-in-link ${seed.ownerSignIn.agentId} --base-url ${baseUrl}`,
    `Lost them? ./dev admin key create --workspace ${seed.workspace.id} --scopes ${seed.apiKey.scopes.join(',')} --name Demo`,
    `      and ./dev admin agent create --workspace ${seed.workspace.id} --name NAME --email EMAIL make new ones.`,
    '==========================================================================================================',
    '',
  ].join('\n');
}

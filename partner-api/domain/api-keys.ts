/** Creating, listing, revoking and authenticating workspace API keys. */
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { isStorageFault } from '../db/faults';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { displayPrefix, generateApiKey, hashSecret, type Scope } from './credentials';
import { ApiError } from './errors';
import { deactivateSubscriptions } from './subscriptions';
import { findWorkspace, type Plan } from './workspaces';

export interface ApiKeySummary {
  id: string;
  workspaceId: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface ApiKeyRow {
  id: string;
  workspace_id: string;
  name: string;
  prefix: string;
  scopes: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

const toSummary = (r: ApiKeyRow): ApiKeySummary => ({
  id: r.id,
  workspaceId: r.workspace_id,
  name: r.name,
  prefix: r.prefix,
  scopes: r.scopes.split(' ').filter(Boolean) as Scope[],
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

const SUMMARY_COLUMNS = 'id, workspace_id, name, prefix, scopes, created_at, last_used_at, revoked_at';

/**
 * Makes a key with the given scopes (duplicates dropped) and returns it with its plaintext, this once; only its
 * SHA-256 is stored. Throws 404 not_found for an unknown workspace.
 */
export async function createApiKey(
  ctx: AppContext,
  input: { workspaceId: string; name: string; scopes: readonly Scope[] },
): Promise<ApiKeySummary & { key: string }> {
  if (!(await findWorkspace(ctx, input.workspaceId)))
    throw new ApiError(404, 'not_found', `No workspace ${input.workspaceId}.`);
  const key = generateApiKey();
  const row: ApiKeyRow = {
    id: newId('key'),
    workspace_id: input.workspaceId,
    name: input.name,
    prefix: displayPrefix(key),
    scopes: [...new Set(input.scopes)].join(' '),
    created_at: isoAt(ctx.clock.now()),
    last_used_at: null,
    revoked_at: null,
  };
  await ctx.db.run(
    `INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    row.id,
    row.workspace_id,
    row.name,
    row.prefix,
    hashSecret(key),
    row.scopes,
    row.created_at,
  );
  return { ...toSummary(row), key };
}

/** The workspace's keys, revoked ones included, oldest first; never a plaintext or a hash. [] for an unknown workspace. */
export async function listApiKeys(ctx: AppContext, workspaceId: string): Promise<ApiKeySummary[]> {
  const rows = await ctx.db.all<ApiKeyRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM api_keys WHERE workspace_id = ? ORDER BY created_at, id`,
    workspaceId,
  );
  return rows.map(toSummary);
}

/** The key with this id as a summary, or null; throws nothing of its own. */
export async function findApiKey(ctx: AppContext, id: string): Promise<ApiKeySummary | null> {
  const row = await ctx.db.one<ApiKeyRow>(`SELECT ${SUMMARY_COLUMNS} FROM api_keys WHERE id = ?`, id);
  return row ? toSummary(row) : null;
}

/**
 * Revokes the key and, in the same transaction, deactivates every subscription made with it and cancels
 * their pending deliveries (retries included): once this commits, nothing more goes out for this key's
 * Zaps, and no write still in flight with the key can commit (they re-check it at commit: http/auth.ts).
 * Revoking again keeps the first revocation time and repairs anything left active under the key.
 * Throws 404 not_found for an unknown key id.
 */
export async function revokeApiKey(
  ctx: AppContext,
  id: string,
): Promise<{ key: ApiKeySummary; subscriptionsDeactivated: number; alreadyRevoked: boolean }> {
  return await inTransaction(ctx, async (ctx) => {
    const existing = await findApiKey(ctx, id);
    if (!existing) throw new ApiError(404, 'not_found', `No API key ${id}.`);
    // Conditional, so of two revocations at once one sets the time; both then turn the subscriptions off.
    await ctx.db.run(
      'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
      isoAt(ctx.clock.now()),
      id,
    );
    const subscriptionsDeactivated = await deactivateSubscriptions(ctx, { apiKeyId: id }, 'key_revoked');
    return { key: (await findApiKey(ctx, id))!, subscriptionsDeactivated, alreadyRevoked: existing.revokedAt !== null };
  });
}

/** What authentication needs about a presented key, found by its hash. */
export interface KeyPrincipal {
  keyId: string;
  prefix: string;
  scopes: Scope[];
  revoked: boolean;
  lastUsedAt: string | null;
  workspace: { id: string; name: string; plan: Plan };
}

interface PrincipalRow {
  id: string;
  prefix: string;
  scopes: string;
  revoked_at: string | null;
  last_used_at: string | null;
  workspace_id: string;
}

const PRINCIPAL_COLUMNS = 'id, prefix, scopes, revoked_at, last_used_at, workspace_id';

/** The key whose SHA-256 matches `key` (authentication on arrival); null when there is none. */
export async function findKeyBySecret(ctx: AppContext, key: string): Promise<KeyPrincipal | null> {
  const row = await ctx.db.one<PrincipalRow>(
    `SELECT ${PRINCIPAL_COLUMNS} FROM api_keys WHERE secret_hash = ?`,
    hashSecret(key),
  );
  return row ? await toPrincipal(ctx, row) : null;
}

/** The key with this id as the database holds it now (the re-check at commit); null when there is none. */
export async function findKeyById(ctx: AppContext, id: string): Promise<KeyPrincipal | null> {
  const row = await ctx.db.one<PrincipalRow>(`SELECT ${PRINCIPAL_COLUMNS} FROM api_keys WHERE id = ?`, id);
  return row ? await toPrincipal(ctx, row) : null;
}

async function toPrincipal(ctx: AppContext, row: PrincipalRow): Promise<KeyPrincipal> {
  // Two primary-key lookups, not a join: this runs on every request, and a join cost 8x as much here.
  // A key's workspace_id is a foreign key, and workspaces are never deleted: the row is there.
  const workspace = (await ctx.db.one<{ id: string; name: string; plan: Plan }>(
    'SELECT id, name, plan FROM workspaces WHERE id = ?',
    row.workspace_id,
  ))!;
  return {
    keyId: row.id,
    prefix: row.prefix,
    scopes: row.scopes.split(' ').filter(Boolean) as Scope[],
    revoked: row.revoked_at !== null,
    lastUsedAt: row.last_used_at,
    workspace,
  };
}

const LAST_USED_RESOLUTION_MS = 60_000;

/** Records use at most once a minute per key (LAST_USED_RESOLUTION_MS, 60,000 ms of the clock), so a busy Zap
 * does not turn every read into a write. On a full or failing disk it is skipped: bookkeeping must not turn a
 * read into a 503. Any other database error is thrown. */
export async function touchLastUsed(ctx: AppContext, principal: KeyPrincipal): Promise<void> {
  const now = ctx.clock.now();
  if (principal.lastUsedAt && now - Date.parse(principal.lastUsedAt) < LAST_USED_RESOLUTION_MS) return;
  try {
    await ctx.db.run('UPDATE api_keys SET last_used_at = ? WHERE id = ?', isoAt(now), principal.keyId);
  } catch (error) {
    if (!isStorageFault(error)) throw error;
  }
}

/** How many active subscriptions (Zaps) each of the workspace's keys has: key id → count; keys with none absent. */
export async function activeZapsByKey(ctx: AppContext, workspaceId: string): Promise<Map<string, number>> {
  const rows = await ctx.db.all<{ api_key_id: string; zaps: number }>(
    'SELECT api_key_id, COUNT(*) AS zaps FROM subscriptions WHERE workspace_id = ? AND active = 1 GROUP BY api_key_id',
    workspaceId,
  );
  return new Map(rows.map((r) => [r.api_key_id, r.zaps]));
}

/** Workspaces, their plans, and the assistants and agents in them. */
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { generateAgentToken, hashSecret } from './credentials';
import { ApiError, invalidState } from './errors';
import { hasIntegration, type Plan } from './plans';
import { endSettingsAccess } from './settings-access';
import { cancelPendingDeliveries } from './subscriptions';

export { hasIntegration, INTEGRATION_PLANS, isPlan, type Plan, PLANS } from './plans';

export interface Workspace {
  id: string;
  name: string;
  plan: Plan;
  createdAt: string;
}

interface WorkspaceRow {
  id: string;
  name: string;
  plan: Plan;
  created_at: string;
}

const toWorkspace = (r: WorkspaceRow): Workspace => ({ id: r.id, name: r.name, plan: r.plan, createdAt: r.created_at });

/** Makes a workspace on `plan` (the admin CLI and the demo seed); raises no ApiError. */
export async function createWorkspace(ctx: AppContext, input: { name: string; plan: Plan }): Promise<Workspace> {
  const workspace = { id: newId('ws'), name: input.name, plan: input.plan, createdAt: isoAt(ctx.clock.now()) };
  await ctx.db.run(
    'INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, ?, ?, ?)',
    workspace.id,
    workspace.name,
    workspace.plan,
    workspace.createdAt,
  );
  return workspace;
}

/** The workspace, or null. */
export async function findWorkspace(ctx: AppContext, id: string): Promise<Workspace | null> {
  const row = await ctx.db.one<WorkspaceRow>('SELECT * FROM workspaces WHERE id = ?', id);
  return row ? toWorkspace(row) : null;
}

/** Every workspace, oldest first (the admin CLI). */
export async function listWorkspaces(ctx: AppContext): Promise<Workspace[]> {
  return (await ctx.db.all<WorkspaceRow>('SELECT * FROM workspaces ORDER BY created_at, id')).map(toWorkspace);
}

/**
 * Moves the workspace to `plan`. Below Pro the integration stops (docs/delivery.md, "Plans below Pro"):
 * in the same transaction the deliveries it still had queued are cancelled, and from then on its events
 * queue none (recordEvent). Subscriptions stay, so on an upgrade new events are delivered again; nothing
 * from the time below Pro is sent afterwards. Throws 404 not_found for an unknown workspace.
 */
export async function setWorkspacePlan(ctx: AppContext, id: string, plan: Plan): Promise<Workspace> {
  return await inTransaction(ctx, async (ctx) => {
    const changed = (await ctx.db.run('UPDATE workspaces SET plan = ? WHERE id = ?', plan, id)).changes;
    if (changed === 0) throw new ApiError(404, 'not_found', `No workspace ${id}.`);
    if (!hasIntegration(plan))
      await cancelPendingDeliveries(ctx, { workspaceId: id }, `workspace plan ${plan} is below Pro`);
    return (await findWorkspace(ctx, id))!;
  });
}

/** True before the first workspace exists: the server then makes the demo workspace. */
export async function isEmptyDatabase(ctx: AppContext): Promise<boolean> {
  return (await ctx.db.value('SELECT COUNT(*) FROM workspaces')) === 0;
}

export interface Assistant {
  id: string;
  name: string;
}

/** Adds an assistant to the workspace. Throws 404 not_found for an unknown workspace. */
export async function createAssistant(ctx: AppContext, workspaceId: string, name: string): Promise<Assistant> {
  await requireWorkspace(ctx, workspaceId);
  const assistant = { id: newId('ast'), name };
  await ctx.db.run(
    'INSERT INTO assistants (id, workspace_id, name, created_at) VALUES (?, ?, ?, ?)',
    assistant.id,
    workspaceId,
    name,
    isoAt(ctx.clock.now()),
  );
  return assistant;
}

/** The workspace's assistants by name (GET /v1/assistants, the admin CLI's `assistant list`). */
export async function listAssistants(ctx: AppContext, workspaceId: string): Promise<Assistant[]> {
  return await ctx.db.all<Assistant>(
    'SELECT id, name FROM assistants WHERE workspace_id = ? ORDER BY name, id',
    workspaceId,
  );
}

/** The assistant and its workspace; null when there is no such assistant (public endpoints key on it). */
export async function findAssistant(
  ctx: AppContext,
  id: string,
): Promise<(Assistant & { workspaceId: string }) | null> {
  const row = await ctx.db.one('SELECT id, name, workspace_id AS "workspaceId" FROM assistants WHERE id = ?', id);
  return (row as (Assistant & { workspaceId: string }) | undefined) ?? null;
}

/** An agent's role in its workspace (migration 007): owners and admins may open the settings pages. */
export const AGENT_ROLES = ['owner', 'admin', 'agent'] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

export function isAgentRole(value: string): value is AgentRole {
  return (AGENT_ROLES as readonly string[]).includes(value);
}

/** True for the roles that may open Settings (API keys, connected Zaps, the delivery log). */
export function mayManageSettings(role: AgentRole): boolean {
  return role === 'owner' || role === 'admin';
}

export interface Agent {
  id: string;
  workspaceId: string;
  name: string;
  email: string;
  role: AgentRole;
}

const AGENT_COLUMNS = 'id, workspace_id AS "workspaceId", name, email, role';

/** Creates an agent (role `agent` unless given) and returns its console token: shown this once, only its hash
 * is kept. Throws 404 not_found for an unknown workspace. */
export async function createAgent(
  ctx: AppContext,
  workspaceId: string,
  input: { name: string; email: string; role?: AgentRole | undefined },
): Promise<Agent & { token: string }> {
  await requireWorkspace(ctx, workspaceId);
  const token = generateAgentToken();
  const agent = { id: newId('agt'), workspaceId, name: input.name, email: input.email, role: input.role ?? 'agent' };
  await ctx.db.run(
    'INSERT INTO agents (id, workspace_id, name, email, role, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    agent.id,
    workspaceId,
    agent.name,
    agent.email,
    agent.role,
    hashSecret(token),
    isoAt(ctx.clock.now()),
  );
  return { ...agent, token };
}

/**
 * Gives the agent `role`. A role without Settings access (`agent`) ends its Settings access at the next
 * request: every request re-checks the role (sessions.ts findSession). Throws 404 not_found for an unknown
 * agent id, and 409 invalid_state when the agent is its workspace's last owner able to sign in and
 * `role` is not owner (requireOwnerLeft): every workspace keeps someone who can open Settings.
 */
export async function setAgentRole(ctx: AppContext, agentId: string, role: AgentRole): Promise<Agent> {
  return await inTransaction(ctx, async (ctx) => {
    const agent = await findAgentWithToken(ctx, agentId);
    if (role !== 'owner')
      await requireOwnerLeft(ctx, agent, `make ${agent.id} ${role === 'admin' ? 'an admin' : 'an agent'}`);
    await ctx.db.run('UPDATE agents SET role = ? WHERE id = ?', role, agentId);
    return { ...withoutToken(agent), role };
  });
}

interface AgentWithToken extends Agent {
  revokedAt: string | null;
}

async function findAgentWithToken(ctx: AppContext, agentId: string): Promise<AgentWithToken> {
  const row = await ctx.db.one<AgentWithToken>(
    `SELECT ${AGENT_COLUMNS}, token_revoked_at AS "revokedAt" FROM agents WHERE id = ?`,
    agentId,
  );
  if (!row) throw new ApiError(404, 'not_found', `No agent ${agentId}.`);
  return row;
}

function withoutToken({ revokedAt: _revokedAt, ...agent }: AgentWithToken): Agent {
  return agent;
}

/**
 * Refuses (409 invalid_state) a change that would leave `agent`'s workspace with no owner able to sign in to
 * Settings, i.e. an owner whose console token is not revoked (a revoked agent gets no sign-in link:
 * sessions.ts). Passes when `agent` is not such an owner itself, or another one exists. `what` names the change.
 */
async function requireOwnerLeft(ctx: AppContext, agent: AgentWithToken, what: string): Promise<void> {
  if (agent.role !== 'owner' || agent.revokedAt !== null) return;
  const another = await ctx.db.one(
    `SELECT 1 FROM agents WHERE workspace_id = ? AND role = 'owner' AND token_revoked_at IS NULL AND id != ? LIMIT 1`,
    agent.workspaceId,
    agent.id,
  );
  if (!another) {
    throw invalidState(
      `Refused to ${what}: ${agent.name} (${agent.id}) is the last owner of workspace ${agent.workspaceId} who can sign in to Settings. Make another agent owner first (agent set-role AGENT_ID --role owner).`,
    );
  }
}

/** True when the agent's console token is revoked (it may not sign in to Settings until rotated); false for an unknown id. */
export async function isAgentRevoked(ctx: AppContext, agentId: string): Promise<boolean> {
  return (
    (await ctx.db.value(
      'SELECT CASE WHEN token_revoked_at IS NOT NULL THEN 1 ELSE 0 END FROM agents WHERE id = ?',
      agentId,
    )) === 1
  );
}

/** The agent with this id, or null (any workspace: the admin CLI's sign-in link). */
export async function findAgent(ctx: AppContext, agentId: string): Promise<Agent | null> {
  return await ctx.db.one<Agent>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE id = ?`, agentId);
}

/** The agent a console token belongs to and whether that token was revoked; null for an unknown token. */
export async function findAgentByToken(
  ctx: AppContext,
  token: string,
): Promise<{ agent: Agent; revoked: boolean } | null> {
  const row = await ctx.db.one<Agent & { revokedAt: string | null }>(
    `SELECT ${AGENT_COLUMNS}, token_revoked_at AS "revokedAt" FROM agents WHERE token_hash = ?`,
    hashSecret(token),
  );
  if (!row) return null;
  const { revokedAt, ...agent } = row;
  return { agent, revoked: revokedAt !== null };
}

/** An agent as the admin CLI lists it: never its token. */
export interface AgentSummary extends Agent {
  createdAt: string;
  tokenRevokedAt: string | null;
}

/** The workspace's agents, oldest first, revoked ones included. Throws 404 not_found for an unknown workspace. */
export async function listAgents(ctx: AppContext, workspaceId: string): Promise<AgentSummary[]> {
  await requireWorkspace(ctx, workspaceId);
  return await ctx.db.all<AgentSummary>(
    `SELECT ${AGENT_COLUMNS}, created_at AS "createdAt", token_revoked_at AS "tokenRevokedAt" FROM agents WHERE workspace_id = ? ORDER BY created_at, id`,
    workspaceId,
  );
}

/**
 * Revokes the agent: its console token is refused from this commit on (401 agent_token_revoked), also for
 * writes already in flight, which re-check their caller in the transaction that writes; in the same commit its
 * Settings sessions end and its unused sign-in links are voided, and it gets no new link until rotated. A
 * repeat changes nothing. Throws 404 not_found for an unknown agent id, and 409 invalid_state when it is its
 * workspace's last owner able to sign in (requireOwnerLeft).
 */
export async function revokeAgentToken(
  ctx: AppContext,
  agentId: string,
): Promise<{ agent: Agent; alreadyRevoked: boolean }> {
  return await inTransaction(ctx, async (ctx) => {
    const row = await findAgentWithToken(ctx, agentId);
    if (row.revokedAt === null) {
      await requireOwnerLeft(ctx, row, `revoke ${row.id}`);
      await ctx.db.run('UPDATE agents SET token_revoked_at = ? WHERE id = ?', isoAt(ctx.clock.now()), agentId);
    }
    // Also on a repeat: access left by a revocation made before sessions were ended with it.
    await endSettingsAccess(ctx, agentId);
    return { agent: withoutToken(row), alreadyRevoked: row.revokedAt !== null };
  });
}

/**
 * Gives the agent a new console token and returns it (shown this once; only its hash is kept). The old token
 * stops working in the same commit; a revoked agent is usable again with the new one. A rotation answers a
 * credential that may have leaked, so it also ends the agent's Settings sessions and voids its unused sign-in
 * links in that commit: the agent signs in again with a new link. 404 for an unknown id.
 */
export async function rotateAgentToken(ctx: AppContext, agentId: string): Promise<Agent & { token: string }> {
  const token = generateAgentToken();
  return await inTransaction(ctx, async (ctx) => {
    const row = await findAgentWithToken(ctx, agentId);
    await ctx.db.run(
      'UPDATE agents SET token_hash = ?, token_revoked_at = NULL WHERE id = ?',
      hashSecret(token),
      agentId,
    );
    await endSettingsAccess(ctx, agentId);
    return { ...withoutToken(row), token };
  });
}

/** An agent of this workspace, or 404: another workspace's agent is as unknown as a made-up id. */
export async function requireAgent(ctx: AppContext, workspaceId: string, agentId: string): Promise<Agent> {
  const row = await ctx.db.one(
    `SELECT ${AGENT_COLUMNS} FROM agents WHERE id = ? AND workspace_id = ?`,
    agentId,
    workspaceId,
  );
  if (!row) throw new ApiError(404, 'not_found', `No agent ${agentId} in this workspace.`);
  return row as Agent;
}

async function requireWorkspace(ctx: AppContext, id: string): Promise<void> {
  if (!(await findWorkspace(ctx, id))) throw new ApiError(404, 'not_found', `No workspace ${id}.`);
}

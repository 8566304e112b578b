/** Workspaces, their plans, and the assistants and agents in them. */
import type { AppContext } from '../context';
import { isoAt } from '../lib/clock';
import { newId } from '../lib/ids';
import { sql } from '../lib/statements';
import { ApiError } from './errors';
import { generateAgentToken, hashSecret } from './keys';

export const PLANS = ['free', 'starter', 'pro', 'business', 'enterprise'] as const;
export type Plan = (typeof PLANS)[number];
/** The Zapier integration is gated to Pro and above. */
export const INTEGRATION_PLANS: readonly Plan[] = ['pro', 'business', 'enterprise'];

export function isPlan(value: string): value is Plan {
  return (PLANS as readonly string[]).includes(value);
}

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

export function createWorkspace(ctx: AppContext, input: { name: string; plan: Plan }): Workspace {
  const workspace = { id: newId('ws'), name: input.name, plan: input.plan, createdAt: isoAt(ctx.clock.now()) };
  sql(ctx.db, 'INSERT INTO workspaces (id, name, plan, created_at) VALUES (?, ?, ?, ?)').run(
    workspace.id, workspace.name, workspace.plan, workspace.createdAt,
  );
  return workspace;
}

export function findWorkspace(ctx: AppContext, id: string): Workspace | null {
  const row = sql(ctx.db, 'SELECT * FROM workspaces WHERE id = ?').get(id) as WorkspaceRow | undefined;
  return row ? toWorkspace(row) : null;
}

export function listWorkspaces(ctx: AppContext): Workspace[] {
  return (sql(ctx.db, 'SELECT * FROM workspaces ORDER BY created_at, id').all() as WorkspaceRow[]).map(toWorkspace);
}

export function setWorkspacePlan(ctx: AppContext, id: string, plan: Plan): Workspace {
  const changed = sql(ctx.db, 'UPDATE workspaces SET plan = ? WHERE id = ?').run(plan, id).changes;
  if (changed === 0) throw new ApiError(404, 'not_found', `No workspace ${id}.`);
  return findWorkspace(ctx, id)!;
}

export function isEmptyDatabase(ctx: AppContext): boolean {
  return sql(ctx.db, 'SELECT COUNT(*) FROM workspaces').pluck().get() === 0;
}

export interface Assistant {
  id: string;
  name: string;
}

export function createAssistant(ctx: AppContext, workspaceId: string, name: string): Assistant {
  requireWorkspace(ctx, workspaceId);
  const assistant = { id: newId('ast'), name };
  sql(ctx.db, 'INSERT INTO assistants (id, workspace_id, name, created_at) VALUES (?, ?, ?, ?)').run(
    assistant.id, workspaceId, name, isoAt(ctx.clock.now()),
  );
  return assistant;
}

export function listAssistants(ctx: AppContext, workspaceId: string): Assistant[] {
  return sql(ctx.db, 'SELECT id, name FROM assistants WHERE workspace_id = ? ORDER BY name, id').all(workspaceId) as Assistant[];
}

/** The assistant and its workspace; null when there is no such assistant (public endpoints key on it). */
export function findAssistant(ctx: AppContext, id: string): (Assistant & { workspaceId: string }) | null {
  const row = sql(ctx.db, 'SELECT id, name, workspace_id AS workspaceId FROM assistants WHERE id = ?').get(id);
  return (row as (Assistant & { workspaceId: string }) | undefined) ?? null;
}

export interface Agent {
  id: string;
  workspaceId: string;
  name: string;
  email: string;
}

const AGENT_COLUMNS = 'id, workspace_id AS workspaceId, name, email';

/** Creates an agent and returns its console token: shown this once, only its hash is kept. */
export function createAgent(ctx: AppContext, workspaceId: string, input: { name: string; email: string }): Agent & { token: string } {
  requireWorkspace(ctx, workspaceId);
  const token = generateAgentToken();
  const agent = { id: newId('agt'), workspaceId, name: input.name, email: input.email };
  sql(ctx.db, 'INSERT INTO agents (id, workspace_id, name, email, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(
    agent.id, workspaceId, agent.name, agent.email, hashSecret(token), isoAt(ctx.clock.now()),
  );
  return { ...agent, token };
}

export function findAgentByToken(ctx: AppContext, token: string): Agent | null {
  const row = sql(ctx.db, `SELECT ${AGENT_COLUMNS} FROM agents WHERE token_hash = ?`).get(hashSecret(token));
  return (row as Agent | undefined) ?? null;
}

/** An agent of this workspace, or 404: another workspace's agent is as unknown as a made-up id. */
export function requireAgent(ctx: AppContext, workspaceId: string, agentId: string): Agent {
  const row = sql(ctx.db, `SELECT ${AGENT_COLUMNS} FROM agents WHERE id = ? AND workspace_id = ?`).get(agentId, workspaceId);
  if (!row) throw new ApiError(404, 'not_found', `No agent ${agentId} in this workspace.`);
  return row as Agent;
}

function requireWorkspace(ctx: AppContext, id: string): void {
  if (!findWorkspace(ctx, id)) throw new ApiError(404, 'not_found', `No workspace ${id}.`);
}

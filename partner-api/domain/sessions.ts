/**
 * Who may open the settings pages (issue 11 §1): one-time sign-in links, printed by the admin CLI for an
 * agent, start a browser session. Link tokens and session ids are long random secrets stored only as their
 * SHA-256 (hashSecret, as API keys are: ADR 0003), so a copy of the database opens nothing. A session reaches
 * its own workspace only, and only while its agent is an owner or admin (checked on every request).
 */
import crypto from 'node:crypto';

import type { AppContext } from '../context';
import { isoAt } from '../lib/clock';
import { hashSecret } from './credentials';
import { ApiError, invalidState } from './errors';

/**
 * A refused sign-in link (400) or a session whose agent may not open Settings (403). Not an API error code:
 * only the settings pages (HTML) meet it, never a /v1 client, so it has no `code` in the API's table.
 */
export class SettingsAccessError extends Error {
  constructor(
    readonly status: 400 | 403,
    message: string,
  ) {
    super(message);
    this.name = 'SettingsAccessError';
  }
}
import { inTransaction } from '../context';
import {
  type Agent,
  type AgentRole,
  findAgent,
  findWorkspace,
  isAgentRevoked,
  mayManageSettings,
  type Workspace,
} from './workspaces';

/** A sign-in link works for 15 minutes (ms), once: long enough to open from a chat message, short if leaked. */
export const SIGN_IN_LINK_TTL_MS = 15 * 60_000;
/** A session lasts 8 hours (ms) from sign-in, a working day; then the agent asks for a new link. */
export const SESSION_TTL_MS = 8 * 60 * 60_000;
/** Prefix of a sign-in token, so a leaked one is recognisable (and redacted from logs: http/redact.ts). */
export const SIGN_IN_TOKEN_PREFIX = 'sgn_tok_';

/** 32 random bytes as base64url (43 characters, 256 bits). */
function randomSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/**
 * A new one-time sign-in link token for the agent: `sgn_tok_` + 43 base64url characters, valid for
 * SIGN_IN_LINK_TTL_MS. Returns the token (shown once; only its hash is stored) and when it expires.
 * Throws 404 not_found for an unknown agent and 409 invalid_state for a revoked one (revoking ends its Settings
 * access: workspaces.ts revokeAgentToken; `agent rotate` restores it). Expired links of any agent are deleted
 * on the way.
 */
export async function createSignInLink(
  ctx: AppContext,
  agentId: string,
): Promise<{ token: string; agent: Agent; expiresAt: string }> {
  const now = ctx.clock.now();
  const token = SIGN_IN_TOKEN_PREFIX + randomSecret();
  return await inTransaction(ctx, async (ctx) => {
    const agent = await findAgent(ctx, agentId);
    if (!agent) throw new ApiError(404, 'not_found', `No agent ${agentId}.`);
    if (await isAgentRevoked(ctx, agentId))
      throw invalidState(
        `Agent ${agentId} (${agent.name}) is revoked: a revoked agent may not sign in to Settings. \`agent rotate\` gives it a new token and access back.`,
      );
    await ctx.db.run('DELETE FROM sign_in_links WHERE expires_at_ms < ?', now);
    await ctx.db.run(
      'INSERT INTO sign_in_links (token_hash, agent_id, created_at, expires_at_ms) VALUES (?, ?, ?, ?)',
      hashSecret(token),
      agentId,
      isoAt(now),
      now + SIGN_IN_LINK_TTL_MS,
    );
    return { token, agent, expiresAt: isoAt(now + SIGN_IN_LINK_TTL_MS) };
  });
}

/** The link an agent opens: `<baseUrl>/sign-in?token=…` (a query, so no request log line holds it). */
export function signInUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/sign-in?token=${encodeURIComponent(token)}`;
}

interface LinkRow {
  agent_id: string;
  expires_at_ms: number;
  used_at: string | null;
}

const LINK_USED = 'This sign-in link was already used: each link signs in once. Ask for a new one.';

/** The link `token` opens if it is usable at `nowMs`; else SettingsAccessError 400 saying why, in words for
 * the person holding it (unknown, used or expired). */
async function usableLink(ctx: AppContext, token: string, nowMs: number): Promise<LinkRow> {
  const row = await ctx.db.one<LinkRow>(
    'SELECT agent_id, expires_at_ms, used_at FROM sign_in_links WHERE token_hash = ?',
    hashSecret(token),
  );
  if (!row) throw new SettingsAccessError(400, 'This sign-in link is not valid. Ask an administrator for a new one.');
  if (row.used_at !== null) throw new SettingsAccessError(400, LINK_USED);
  if (row.expires_at_ms <= nowMs)
    throw new SettingsAccessError(400, 'This sign-in link has expired. Ask an administrator for a new one.');
  return row;
}

/** The agent a still-usable link signs in, without using it (the confirmation page). Throws SettingsAccessError 400. */
export async function peekSignInLink(ctx: AppContext, token: string): Promise<Agent> {
  const row = await usableLink(ctx, token, ctx.clock.now());
  return (await findAgent(ctx, row.agent_id))!; // a link's agent_id is a foreign key; agents are never deleted
}

export interface NewSession {
  /** The cookie's value: shown to the browser only; the table keeps its hash. */
  sessionId: string;
  expiresAtMs: number;
}

/**
 * Uses the link (once: the mark only takes an unused link, in the write transaction that checks it) and starts a session for its agent.
 * Throws SettingsAccessError 400 for an unknown, used or expired link, and 403 when the agent is not an
 * owner or admin (then nothing is written: the link still works once the agent's role allows it).
 */
export async function signIn(ctx: AppContext, token: string): Promise<NewSession> {
  const now = ctx.clock.now();
  const sessionId = randomSecret();
  return await inTransaction(ctx, async (ctx) => {
    const row = await usableLink(ctx, token, now);
    // The mark is conditional: on PostgreSQL two requests can both have read the link unused; the second's
    // UPDATE waits for the first's commit, then finds it used and changes nothing.
    const marked = await ctx.db.run(
      'UPDATE sign_in_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL',
      isoAt(now),
      hashSecret(token),
    );
    if (marked.changes === 0) throw new SettingsAccessError(400, LINK_USED);
    const agent = (await findAgent(ctx, row.agent_id))!; // a link's agent_id is a foreign key; agents are never deleted
    requireSettingsRole(agent.role);
    // Revoking voids the agent's links in its own commit; this guards a link made by an older version.
    if (await isAgentRevoked(ctx, agent.id))
      throw new SettingsAccessError(403, 'Your access was revoked. Ask an administrator for a new sign-in link.');
    await ctx.db.run('DELETE FROM sessions WHERE expires_at_ms < ?', now);
    const expiresAtMs = now + SESSION_TTL_MS;
    await ctx.db.run(
      'INSERT INTO sessions (id_hash, agent_id, workspace_id, csrf_token, created_at, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?)',
      hashSecret(sessionId),
      agent.id,
      agent.workspaceId,
      randomSecret(),
      isoAt(now),
      expiresAtMs,
    );
    return { sessionId, expiresAtMs };
  });
}

function requireSettingsRole(role: AgentRole): void {
  if (!mayManageSettings(role)) {
    throw new SettingsAccessError(
      403,
      "Only the workspace's owners and admins may open Settings. Ask an owner to make you an admin.",
    );
  }
}

export interface Session {
  agent: Agent;
  workspace: Workspace;
  /** The synchronizer token each form of this session sends back (CSRF). */
  csrfToken: string;
  expiresAtMs: number;
}

/**
 * The live session with this cookie value, or null (unknown, expired or ended). Throws SettingsAccessError 403
 * when its agent is no longer an owner or admin: a role taken away ends access at once, not at expiry.
 */
export async function findSession(ctx: AppContext, sessionId: string): Promise<Session | null> {
  const row = await ctx.db.one<{ agent_id: string; workspace_id: string; csrf_token: string; expires_at_ms: number }>(
    'SELECT agent_id, workspace_id, csrf_token, expires_at_ms FROM sessions WHERE id_hash = ?',
    hashSecret(sessionId),
  );
  if (!row || row.expires_at_ms <= ctx.clock.now()) return null;
  // Foreign keys, and neither agents nor workspaces are ever deleted; an agent never changes workspace.
  const agent = (await findAgent(ctx, row.agent_id))!;
  const workspace = (await findWorkspace(ctx, row.workspace_id))!;
  requireSettingsRole(agent.role);
  return { agent, workspace, csrfToken: row.csrf_token, expiresAtMs: row.expires_at_ms };
}

/** Ends the session (sign-out); an unknown id changes nothing. */
export async function endSession(ctx: AppContext, sessionId: string): Promise<void> {
  await ctx.db.run('DELETE FROM sessions WHERE id_hash = ?', hashSecret(sessionId));
}

/** True when `given` is the session's CSRF token (constant time). */
export function csrfTokenMatches(session: Session, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(session.csrfToken);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

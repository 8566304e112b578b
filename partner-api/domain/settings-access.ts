/**
 * Ending an agent's access to the settings pages (issue 11 follow-up 3): its browser sessions
 * (domain/sessions.ts) and its sign-in links not used yet. Called inside the write transaction that revokes or
 * rotates the agent's credentials, so no request after that commit finds a
 * session or a link that still works. Each is one seek: sessions_by_agent, sign_in_links_by_agent (migration 010).
 */
import type { AppContext } from '../context';

/**
 * Deletes the agent's sessions and voids (deletes) its unused sign-in links. Used links stay as
 * the record of the sign-in they started. Returns how many of each ended. Call inside a write transaction.
 */
export async function endSettingsAccess(
  ctx: AppContext,
  agentId: string,
): Promise<{ sessions: number; links: number }> {
  return {
    sessions: (await ctx.db.run('DELETE FROM sessions WHERE agent_id = ?', agentId)).changes,
    links: (await ctx.db.run('DELETE FROM sign_in_links WHERE agent_id = ? AND used_at IS NULL', agentId)).changes,
  };
}

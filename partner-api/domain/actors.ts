/**
 * Who did something that a record or an event names (a tag's `addedBy`, a note's `author`): an agent in the
 * console, or a workspace API key, which is how a Zap acts. The key's `name` is the one given when it was
 * made (Settings → API Keys), never any part of its secret.
 */
import type { TaggerRecord } from '../../catalog/events';
import type { AppContext } from '../context';
import type { Agent } from './workspaces';

export type Actor = TaggerRecord;

export function agentActor(agent: Agent): Actor {
  return { type: 'agent', id: agent.id, name: agent.name };
}

/** The API key `keyId` as an actor; call inside the write's transaction (the key exists: it was just admitted). */
export async function keyActor(ctx: AppContext, keyId: string): Promise<Actor> {
  const name = await ctx.db.value<string>('SELECT name FROM api_keys WHERE id = ?', keyId);
  return { type: 'api_key', id: keyId, name: name ?? keyId };
}

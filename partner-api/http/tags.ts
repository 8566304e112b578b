/**
 * Tags on contacts and conversations, notes on contacts, and the workspace's custom contact attributes: what
 * Zaps (workspace API key) and agents (console token) add beside the records the other modules write. Scopes:
 * a contact's tags, notes and attributes are contacts:write, as the contact itself; a conversation's tags are
 * chat:write, as posting into it (docs/api.md, "Tags, notes and custom attributes").
 */
import type { Request } from 'express';
import { z } from 'zod';

import { ATTRIBUTE_TYPES } from '../../catalog/records';
import type { AppContext } from '../context';
import { type Actor, agentActor, keyActor } from '../domain/actors';
import { ATTRIBUTE_KEY, defineAttribute, listAttributes } from '../domain/attributes';
import { contactTagTarget } from '../domain/contacts';
import { conversationTagTarget } from '../domain/conversations';
import { addNote, NOTE_MAX_LENGTH } from '../domain/notes';
import { addTag, removeTag, TAG_MAX_LENGTH, type TagTarget } from '../domain/tags';
import { agentOf, keyOf } from './auth';
import { created, ok, type RouteBuilders } from './route-builders';
import { idField, parseWith, requiredLine, requiredText } from './validate';

/**
 * One line, 1 to TAG_MAX_LENGTH code points after trimming, any script; not `.` or `..`, which a URL path
 * cannot carry as a segment (WHATWG URL and RFC 3986 remove dot segments, even as `%2E`), so no client could
 * remove such a tag through DELETE …/tags/:tag.
 */
export const tagField = requiredLine(TAG_MAX_LENGTH).refine(
  (tag) => tag !== '.' && tag !== '..',
  'Must not be only “.” or “..”: such a tag could not be put in a URL to remove it.',
);

const tagBody = z.strictObject({ tag: tagField });
const noteBody = z.strictObject({ body: requiredText(NOTE_MAX_LENGTH) });
const attributeBody = z.strictObject({
  key: z
    .string()
    .trim()
    .regex(ATTRIBUTE_KEY, 'Must be a lower-case letter, then lower-case letters, digits or _ (40 at most).'),
  label: requiredLine(100),
  type: z.enum(ATTRIBUTE_TYPES),
});
const idParams = z.object({ id: idField });
/** Removing takes any tag a record may hold, a `.` stored before tagField refused it included. */
const tagParams = z.object({ id: idField, tag: requiredLine(TAG_MAX_LENGTH) });

type TargetOf = (ctx: AppContext, workspaceId: string, id: string) => Promise<TagTarget>;
/** The caller's workspace, and the actor it is (read at commit: an API key's name comes from the database). */
type Caller = (req: Request) => { workspaceId: string; actor: (ctx: AppContext) => Promise<Actor> };

export function registerTagRoutes({ app, ctx, keyed, agent, write }: RouteBuilders): void {
  /** POST …/tags for a key or an agent: adds the body's tag; 201 when added, 200 when the record had it. */
  const adding = (targetOf: TargetOf, who: Caller) =>
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      const { tag } = parseWith(tagBody, req.body);
      const caller = who(req);
      return async (ctx) => {
        const result = await addTag(ctx, await targetOf(ctx, caller.workspaceId, id), tag, await caller.actor(ctx));
        return result.changed ? created(result) : ok(result);
      };
    });
  const removing = (targetOf: TargetOf) =>
    write((req) => {
      const { id, tag } = parseWith(tagParams, req.params);
      const workspaceId = keyOf(req).workspace.id;
      return async (ctx) => ok(await removeTag(ctx, await targetOf(ctx, workspaceId, id), tag));
    });
  const byKey: Caller = (req) => {
    const key = keyOf(req);
    return { workspaceId: key.workspace.id, actor: (tx) => keyActor(tx, key.keyId) };
  };
  const byAgent: Caller = (req) => {
    const by = agentOf(req);
    return { workspaceId: by.workspaceId, actor: () => Promise.resolve(agentActor(by)) };
  };

  app.post('/v1/contacts/:id/tags', ...keyed('contacts:write'), adding(contactTagTarget, byKey));
  app.delete('/v1/contacts/:id/tags/:tag', ...keyed('contacts:write'), removing(contactTagTarget));
  app.post('/v1/conversations/:id/tags', ...keyed('chat:write'), adding(conversationTagTarget, byKey));
  app.delete('/v1/conversations/:id/tags/:tag', ...keyed('chat:write'), removing(conversationTagTarget));
  app.post('/v1/agent/contacts/:id/tags', agent, adding(contactTagTarget, byAgent));
  app.post('/v1/agent/conversations/:id/tags', agent, adding(conversationTagTarget, byAgent));

  const noting = (who: Caller) =>
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      const { body } = parseWith(noteBody, req.body);
      const caller = who(req);
      return async (ctx) => created(await addNote(ctx, caller.workspaceId, id, body, await caller.actor(ctx)));
    });
  app.post('/v1/contacts/:id/notes', ...keyed('contacts:write'), noting(byKey));
  app.post('/v1/agent/contacts/:id/notes', agent, noting(byAgent));

  app.get('/v1/contact-attributes', ...keyed('contacts:write'), async (req, res) => {
    res.json({ data: await listAttributes(ctx, keyOf(req).workspace.id) });
  });
  app.post(
    '/v1/agent/contact-attributes',
    agent,
    write((req) => {
      const input = parseWith(attributeBody, req.body);
      const workspaceId = agentOf(req).workspaceId;
      return async (ctx) => {
        const { attribute, created: isNew } = await defineAttribute(ctx, workspaceId, input);
        return isNew ? created(attribute) : ok(attribute);
      };
    }),
  );
}

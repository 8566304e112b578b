/** Create or Update Contact, Find Contact, and the agent console's "add contact". */
import { z } from 'zod';

import { UNKNOWN_ATTRIBUTE } from '../domain/attributes';
import { contactResource, findContact, requireContact, upsertContact } from '../domain/contacts';
import { agentOf, keyOf } from './auth';
import { created, ok, type RouteBuilders } from './route-builders';
import { emailField, idField, optionalLine, optionalText, parseWith } from './validate';

const contactBody = z.strictObject({
  email: emailField,
  name: optionalLine(200),
  phone: optionalLine(50),
  company: optionalText(200),
  notes: optionalText(10_000),
  /** Custom attribute values by key (domain/attributes.ts checks them against the workspace's definitions). */
  attributes: z.preprocess(
    (v, check) => {
      // zod's record drops an own "__proto__" key (JSON.parse makes one) without an issue; it is never an
      // attribute key (ATTRIBUTE_KEY), so it is refused as every other undefined key is, not silently ignored.
      if (typeof v === 'object' && v !== null && Object.hasOwn(v, '__proto__'))
        check.addIssue({ code: 'custom', path: ['__proto__'], message: UNKNOWN_ATTRIBUTE });
      return v === null ? undefined : v;
    },
    z.record(z.string().max(100), z.unknown()).optional(),
  ),
});

const agentContactBody = contactBody.pick({ email: true, name: true, phone: true, attributes: true });

const findQuery = z.strictObject({ email: emailField });

export function registerContactRoutes({ app, ctx, keyed, agent, write }: RouteBuilders): void {
  app.post(
    '/v1/contacts',
    ...keyed('contacts:write'),
    write((req) => {
      const input = parseWith(contactBody, req.body);
      const workspaceId = keyOf(req).workspace.id;
      return async (ctx) => {
        const { contact, created: isNew } = await upsertContact(ctx, workspaceId, input, 'api');
        return isNew ? created(contact) : ok(contact);
      };
    }),
  );

  app.get('/v1/contacts', ...keyed('contacts:write'), async (req, res) => {
    const { email } = parseWith(findQuery, req.query);
    const contact = await findContact(ctx, keyOf(req).workspace.id, email);
    res.json({ data: contact ? [contact] : [] });
  });

  app.get('/v1/contacts/:id', ...keyed('contacts:write'), async (req, res) => {
    const { id } = parseWith(z.object({ id: idField }), req.params);
    res.json(await contactResource(ctx, await requireContact(ctx, keyOf(req).workspace.id, id)));
  });

  app.post(
    '/v1/agent/contacts',
    agent,
    write((req) => {
      const input = parseWith(agentContactBody, req.body);
      const workspaceId = agentOf(req).workspaceId;
      return async (ctx) => {
        const { contact, created: isNew } = await upsertContact(ctx, workspaceId, input, 'crm');
        return isNew ? created(contact) : ok(contact);
      };
    }),
  );
}

/** Create or Update Contact, Find Contact, and the agent console's "add contact". */
import { z } from 'zod';

import { findContact, upsertContact } from '../domain/contacts';
import { agentOf, keyOf } from './auth';
import { created, ok, type RouteBuilders } from './route-builders';
import { emailField, optionalLine, optionalText, parseWith } from './validate';

const contactBody = z.strictObject({
  email: emailField,
  name: optionalLine(200),
  phone: optionalLine(50),
  company: optionalText(200),
  notes: optionalText(10_000),
});

const agentContactBody = contactBody.pick({ email: true, name: true, phone: true });

const findQuery = z.strictObject({ email: emailField });

export function registerContactRoutes({ app, ctx, keyed, agent, write }: RouteBuilders): void {
  app.post(
    '/v1/contacts',
    ...keyed('contacts:write'),
    write((req) => {
      const input = parseWith(contactBody, req.body);
      const workspaceId = keyOf(req).workspace.id;
      return () => {
        const { contact, created: isNew } = upsertContact(ctx, workspaceId, input, 'api');
        return isNew ? created(contact) : ok(contact);
      };
    }),
  );

  app.get('/v1/contacts', ...keyed('contacts:write'), (req, res) => {
    const { email } = parseWith(findQuery, req.query);
    const contact = findContact(ctx, keyOf(req).workspace.id, email);
    res.json({ data: contact ? [contact] : [] });
  });

  app.post(
    '/v1/agent/contacts',
    agent,
    write((req) => {
      const input = parseWith(agentContactBody, req.body);
      const workspaceId = agentOf(req).workspaceId;
      return () => {
        const { contact, created: isNew } = upsertContact(ctx, workspaceId, input, 'crm');
        return isNew ? created(contact) : ok(contact);
      };
    }),
  );
}

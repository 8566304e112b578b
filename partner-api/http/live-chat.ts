/** The agent console's live-chat operations: accept (takeover), transfer, end. */
import { z } from 'zod';

import { acceptSession, endSession, transferSession } from '../domain/live-chat';
import { agentOf } from './auth';
import { ok, type RouteBuilders } from './route-builders';
import { idField, optionalEnum, optionalText, parseWith } from './validate';

const idParams = z.object({ id: idField });
const transferBody = z.strictObject({ to_agent_id: idField, note: optionalText(1000) });
const endBody = z.strictObject({ ended_by: optionalEnum(['agent', 'visitor', 'system']) });

export function registerLiveChatRoutes({ app, agent, write }: RouteBuilders): void {
  app.post(
    '/v1/agent/live-chat/sessions/:id/accept',
    agent,
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      parseWith(z.strictObject({}), req.body);
      const by = agentOf(req);
      return async (ctx) => ok(await acceptSession(ctx, by, id));
    }),
  );

  app.post(
    '/v1/agent/live-chat/sessions/:id/transfer',
    agent,
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      const body = parseWith(transferBody, req.body);
      const by = agentOf(req);
      return async (ctx) => ok(await transferSession(ctx, by, id, body.to_agent_id, body.note ?? null));
    }),
  );

  app.post(
    '/v1/agent/live-chat/sessions/:id/end',
    agent,
    write((req) => {
      const { id } = parseWith(idParams, req.params);
      const body = parseWith(endBody, req.body);
      const by = agentOf(req);
      return async (ctx) => ok(await endSession(ctx, by, id, body.ended_by ?? 'agent'));
    }),
  );
}

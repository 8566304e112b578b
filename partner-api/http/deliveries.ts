/**
 * The delivery log for scripts (issue 11 §3), the same data and replay as Settings → Delivery log: the
 * workspace's deliveries with filters and cursors, one delivery with its attempts, one event, and replay of
 * one delivery or of a subscription's failed ones since a time. All need events:read (docs/api.md,
 * "Delivery log"): they show the event records that scope's triggers already receive, and a replay sends
 * only to the workspace's own subscriptions.
 */
import { z } from 'zod';

import { EVENT_TYPES, type EventType } from '../../catalog/events';
import { replayDelivery, replayFailedSince } from '../delivery/replay';
import { DELIVERY_STATUSES, findDelivery, findEvent, listDeliveries } from '../domain/deliveries';
import { keyOf } from './auth';
import { ok, type RouteBuilders } from './route-builders';
import { idField, limitQuery, optionalEnum, optionalText, parseWith } from './validate';

const listQuery = z.strictObject({
  limit: limitQuery(25, 100),
  cursor: z.string().max(500).optional(),
  // Blank is no filter, as a form's "any" sends it.
  status: optionalEnum(DELIVERY_STATUSES),
  subscription_id: optionalText(100),
  event_type: optionalEnum(EVENT_TYPES as [EventType, ...EventType[]]),
});

const replaySinceBody = z.strictObject({ since: z.iso.datetime({ offset: true }) });

const byId = z.object({ id: idField });

export function registerDeliveryRoutes({ app, ctx, keyed, write }: RouteBuilders): void {
  app.get('/v1/deliveries', ...keyed('events:read'), async (req, res) => {
    const query = parseWith(listQuery, req.query);
    res.json(
      await listDeliveries(ctx, keyOf(req).workspace.id, {
        limit: query.limit,
        cursor: query.cursor,
        status: query.status,
        subscriptionId: query.subscription_id,
        eventType: query.event_type,
      }),
    );
  });

  app.get('/v1/deliveries/:id', ...keyed('events:read'), async (req, res) => {
    const { id } = parseWith(byId, req.params);
    res.json(await findDelivery(ctx, keyOf(req).workspace.id, id));
  });

  app.post(
    '/v1/deliveries/:id/replay',
    ...keyed('events:read'),
    write(async (req) => {
      const { id } = parseWith(byId, req.params);
      parseWith(z.strictObject({}), req.body); // no fields: an unknown one is refused, not ignored
      const commit = await replayDelivery(ctx, keyOf(req).workspace.id, id);
      return async (ctx) => ok(await commit(ctx));
    }),
  );

  app.post(
    '/v1/subscriptions/:id/replay',
    ...keyed('events:read'),
    write(async (req) => {
      const { id } = parseWith(byId, req.params);
      const { since } = parseWith(replaySinceBody, req.body);
      const commit = await replayFailedSince(ctx, keyOf(req).workspace.id, id, new Date(since).toISOString());
      return async (ctx) => ok(await commit(ctx));
    }),
  );

  app.get('/v1/events/:id', ...keyed('events:read'), async (req, res) => {
    const { id } = parseWith(byId, req.params);
    res.json(await findEvent(ctx, keyOf(req).workspace.id, id));
  });
}

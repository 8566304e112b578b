/**
 * Zapier's REST-hook subscribe and unsubscribe (by id, or by target URL when Zapier hands over no id), the sample list behind "Test trigger", and the list where a
 * workspace sees each subscription's state and why it stopped (a 410, failing deliveries, a revoked key).
 */
import { z } from 'zod';

import { eventTypeSchema } from '../../catalog/events';
import { ApiError } from '../domain/errors';
import { SAMPLES_LIMIT_MAX, samplesFor } from '../domain/samples';
import { createSubscription, listSubscriptions, unsubscribe, unsubscribeByTarget } from '../domain/subscriptions';
import { checkTarget } from '../net/target-policy';
import { keyOf } from './auth';
import { created, ok, type RouteBuilders } from './route-builders';
import { idField, limitQuery, optionalText, parseWith } from './validate';

const targetUrl = z.string().trim().min(1).max(2048);

const subscribeBody = z.strictObject({
  event_type: eventTypeSchema,
  target_url: targetUrl,
  assistant_id: optionalText(100),
});

const unsubscribeQuery = z.strictObject({ target_url: targetUrl });

const listQuery = z.strictObject({ limit: limitQuery(25, 100), cursor: z.string().max(500).optional() });

const samplesQuery = z.strictObject({
  event_type: eventTypeSchema,
  assistant_id: optionalText(100),
  limit: limitQuery(3, SAMPLES_LIMIT_MAX),
});

export function registerSubscriptionRoutes({ app, ctx, keyed, write }: RouteBuilders): void {
  app.post(
    '/v1/subscriptions',
    ...keyed('events:read'),
    write(async (req) => {
      const body = parseWith(subscribeBody, req.body);
      const key = keyOf(req);
      const verdict = await checkTarget(body.target_url, { allowPrivate: ctx.config.allowPrivateTargets });
      if (!verdict.ok) {
        // When the development setting would allow this target (http, loopback, private), say which it is.
        const devSettingAllows =
          !ctx.config.allowPrivateTargets && (await checkTarget(body.target_url, { allowPrivate: true })).ok;
        const hint = devSettingAllows
          ? ' For local development only, ILLUMICHAT_ALLOW_PRIVATE_TARGETS=1 on the API allows http and loopback or private targets.'
          : '';
        throw new ApiError(422, 'target_url_refused', `The target URL was refused: ${verdict.reason}.${hint}`, {
          details: [{ path: 'target_url', message: verdict.reason }],
        });
      }
      const input = {
        workspaceId: key.workspace.id,
        apiKeyId: key.keyId,
        eventType: body.event_type,
        targetUrl: body.target_url,
        assistantId: body.assistant_id,
      };
      return async (ctx) => {
        // A repeat of the same subscribe (Zapier retrying a lost answer) gets the same subscription, 200.
        const { subscription, outcome } = await createSubscription(ctx, input);
        return outcome === 'existing' ? ok(subscription) : created(subscription);
      };
    }),
  );

  app.get('/v1/subscriptions', ...keyed('events:read'), async (req, res) => {
    res.json(await listSubscriptions(ctx, keyOf(req).workspace.id, parseWith(listQuery, req.query)));
  });

  // Unsubscribing works on every plan, so a Zap can always be turned off (docs/api.md, "Plans below Pro").
  app.delete(
    '/v1/subscriptions',
    ...keyed('events:read', { anyPlan: true }),
    write((req) => {
      const { target_url } = parseWith(unsubscribeQuery, req.query);
      const workspaceId = keyOf(req).workspace.id;
      return async (ctx) => ok(await unsubscribeByTarget(ctx, workspaceId, target_url));
    }),
  );

  app.delete(
    '/v1/subscriptions/:id',
    ...keyed('events:read', { anyPlan: true }),
    write((req) => {
      const { id } = parseWith(z.object({ id: idField }), req.params);
      const workspaceId = keyOf(req).workspace.id;
      return async (ctx) => ok(await unsubscribe(ctx, workspaceId, id));
    }),
  );

  app.get('/v1/samples', ...keyed('events:read'), async (req, res) => {
    const query = parseWith(samplesQuery, req.query);
    res.json(
      await samplesFor(ctx, keyOf(req).workspace.id, {
        eventType: query.event_type,
        assistantId: query.assistant_id,
        limit: query.limit,
      }),
    );
  });
}

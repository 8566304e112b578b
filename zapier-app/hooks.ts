/**
 * The REST hook machinery every instant trigger shares. A trigger only says which event type it subscribes
 * to; subscribing, unsubscribing, reading a delivery and loading sample data work the same for all of them.
 */
import type { Bundle, ZObject } from 'zapier-platform-core';
import type { EventType } from '../catalog/events';
import { throwApiError } from './http/middleware';
import { verifyDelivery, type RawDelivery } from './signature';

/** For operators only: `zapier-platform env:set <version> ILLUMICHAT_SKIP_SIGNATURE_CHECK=1` if checks misfire. */
export const SKIP_SIGNATURE_CHECK = 'ILLUMICHAT_SKIP_SIGNATURE_CHECK';

/** What POST /v1/subscriptions answers; Zapier keeps it as `bundle.subscribeData`. */
export interface Subscription {
  id: string;
  eventType: EventType;
  targetUrl: string;
  assistantId: string | null;
  secret: string;
  active: boolean;
  createdAt: string;
}

export type DeliveredRecord = Record<string, unknown>;

/** Decides the subscribed event type from the trigger's input (or throws a Zapier error saying what to pick). */
export type EventTypeOf = (z: ZObject, bundle: Bundle) => EventType;

/** The optional Assistant filter travels with the subscription, so IllumiChat filters, not the Zap. */
function assistantFilter(bundle: Bundle): { assistant_id?: string } {
  const assistantId = bundle.inputData.assistant_id;
  return typeof assistantId === 'string' && assistantId.trim() ? { assistant_id: assistantId.trim() } : {};
}

export function restHook(eventTypeOf: EventTypeOf) {
  /** No Idempotency-Key here: a Zap turned off and on again reuses its target URL and must get a new subscription. */
  const performSubscribe = async (z: ZObject, bundle: Bundle): Promise<Subscription> => {
    const response = await z.request<Subscription>({
      method: 'POST',
      url: '/v1/subscriptions',
      body: { event_type: eventTypeOf(z, bundle), target_url: bundle.targetUrl, ...assistantFilter(bundle) },
    });
    return response.data;
  };

  const performUnsubscribe = async (z: ZObject, bundle: Bundle): Promise<{ id: string; active: false }> => {
    const id = bundle.subscribeData?.id;
    if (!id) {
      throw new z.errors.Error('This Zap has no IllumiChat subscription to remove.', 'missing_subscription', 400);
    }
    const response = await z.request({
      method: 'DELETE',
      url: `/v1/subscriptions/${encodeURIComponent(id)}`,
      skipThrowForStatus: true,
    });
    // A revoked key's subscriptions were ended with it, and an unknown id is already gone: either way nothing
    // is left to deliver, and the Zap must be able to turn off.
    if (response.status < 300 || response.status === 401 || response.status === 404) return { id, active: false };
    return throwApiError(z, response);
  };

  /**
   * The delivery's JSON body is the record, exactly as the catalog defines it for the event type, once its
   * signature proves IllumiChat sent it. A forged request halts: it must not run the Zap, nor count towards
   * switching the Zap off.
   */
  const perform = async (z: ZObject, bundle: Bundle): Promise<DeliveredRecord[]> => {
    const secret = (bundle.subscribeData as Partial<Subscription> | undefined)?.secret;
    if (secret && process.env[SKIP_SIGNATURE_CHECK] !== '1') {
      const verdict = verifyDelivery(secret, (bundle.rawRequest ?? {}) as RawDelivery);
      if (!verdict.ok) {
        throw new z.errors.HaltedError(
          `Ignored a request to this Zap's hook URL that IllumiChat did not sign (${verdict.reason}).`,
        );
      }
    }
    const record: unknown = bundle.cleanedRequest;
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new z.errors.Error('The IllumiChat delivery carried no JSON record.', 'invalid_delivery', 400);
    }
    return [record as DeliveredRecord];
  };

  /** Test trigger: the workspace's latest real events of the type, or the fixture when there are none yet. */
  const performList = async (z: ZObject, bundle: Bundle): Promise<DeliveredRecord[]> => {
    const response = await z.request<{ data: DeliveredRecord[] }>({
      url: '/v1/samples',
      params: { event_type: eventTypeOf(z, bundle), ...assistantFilter(bundle) },
    });
    return response.data.data;
  };

  return { type: 'hook' as const, performSubscribe, performUnsubscribe, perform, performList };
}

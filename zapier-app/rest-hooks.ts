/**
 * The REST hook machinery every instant trigger shares (Zapier's REST hooks: subscribe, unsubscribe, perform,
 * performList). restHookOperation returns a trigger's whole `operation`: the trigger file only names the event
 * type it subscribes to, its input and output fields and its sample; subscribing, unsubscribing, reading a
 * delivery and loading sample data work the same for all of them.
 */
import type { Bundle, InputFields, OutputFields, ZObject } from 'zapier-platform-core';

import type { EventType } from '../catalog/events';
import type { SubscribedRecord } from '../catalog/records';
import { throwApiError } from './http/middleware';
import { verifyDelivery } from './signature';

/** For operators only: `zapier-platform env:set <version> ILLUMICHAT_SKIP_SIGNATURE_CHECK=1` if checks misfire. */
export const SKIP_SIGNATURE_CHECK = 'ILLUMICHAT_SKIP_SIGNATURE_CHECK';

export type DeliveredRecord = Record<string, unknown>;

/** Decides the subscribed event type from the trigger's input (or throws a Zapier error saying what to pick). */
export type EventTypeOf = (z: ZObject, bundle: Bundle) => EventType;

/** The optional Assistant filter travels with the subscription, so IllumiChat filters, not the Zap. */
function assistantFilter(bundle: Bundle): { assistant_id?: string } {
  const assistantId = bundle.inputData.assistant_id;
  return typeof assistantId === 'string' && assistantId.trim() ? { assistant_id: assistantId.trim() } : {};
}

/** The API's largest page of samples (GET /v1/samples `limit`, 1 to 10). */
export const MAX_SAMPLES = 10;

/** `bundle.meta.limit` as the samples' `limit`, or undefined when Zapier sets none (absent, 0 or -1). */
function sampleLimit(bundle: Bundle): number | undefined {
  const limit = bundle.meta?.limit;
  return typeof limit === 'number' && Number.isInteger(limit) && limit > 0 ? Math.min(limit, MAX_SAMPLES) : undefined;
}

/**
 * The delivered record exactly as IllumiChat sent it: the raw JSON body whose signature perform checked.
 * Zapier's `cleanedRequest` is not that: beside the parsed body it carries a `querystring` key, a field that
 * no sample or output field has. Without a raw body (an operator switched the signature check off and Zapier
 * sent none), the cleaned request minus Zapier's `querystring`. Undefined when neither holds a JSON object.
 */
export function deliveredRecord(bundle: Bundle): DeliveredRecord | undefined {
  const content = (bundle.rawRequest as { content?: unknown } | undefined)?.content;
  if (typeof content === 'string' && content.trim()) {
    try {
      const parsed: unknown = JSON.parse(content);
      return isObject(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
  const cleaned: unknown = bundle.cleanedRequest;
  if (!isObject(cleaned)) return undefined;
  const { querystring: _zapierQuery, ...record } = cleaned;
  return record;
}

function isObject(value: unknown): value is DeliveredRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a trigger names; restHookOperation supplies the rest. */
export interface RestHookTrigger<$InputFields extends InputFields> {
  /** The event type to subscribe to and list samples of, from the trigger's input. */
  eventType: EventTypeOf;
  inputFields: $InputFields;
  outputFields: OutputFields;
  /** The static sample (fixtures/), shown when a Zap is set up without a test. */
  sample: Record<string, unknown>;
  /**
   * A filter the subscription cannot carry (Tag Added's tag and record kind): a delivered record it refuses
   * does not run the Zap (perform returns nothing), and Test trigger shows only records it accepts.
   */
  accepts?: (bundle: Bundle, record: DeliveredRecord) => boolean;
}

/** A trigger's whole `operation` (type 'hook') over IllumiChat's subscriptions API. */
export function restHookOperation<const $InputFields extends InputFields>(trigger: RestHookTrigger<$InputFields>) {
  const { eventType: eventTypeOf, inputFields, outputFields, sample, accepts } = trigger;

  /** No Idempotency-Key here: a Zap turned off and on again reuses its target URL and must get a new subscription. */
  const performSubscribe = async (z: ZObject, bundle: Bundle): Promise<SubscribedRecord> => {
    const response = await z.request<SubscribedRecord>({
      method: 'POST',
      url: '/v1/subscriptions',
      body: { event_type: eventTypeOf(z, bundle), target_url: bundle.targetUrl, ...assistantFilter(bundle) },
    });
    return response.data;
  };

  /**
   * Ends the subscription by the id subscribe returned. Without one (`subscribeData` empty: a subscribe whose
   * answer Zapier did not keep), by the hook URL itself, `DELETE /v1/subscriptions?target_url=…`, so the
   * subscription never outlives the Zap. A revoked key's subscriptions ended with it (401) and an unknown id
   * or URL is already gone (404): either way nothing is left to deliver, and the Zap must be able to turn off.
   */
  const performUnsubscribe = async (z: ZObject, bundle: Bundle): Promise<{ id: string | null; active: false }> => {
    const id = (bundle.subscribeData as Partial<SubscribedRecord> | undefined)?.id;
    const byId = typeof id === 'string' && id !== '';
    if (!byId && !bundle.targetUrl) {
      throw new z.errors.Error(
        'This Zap has neither a subscription id nor a hook URL to unsubscribe; nothing can be removed.',
        'missing_subscription',
        400,
      );
    }
    const response = await z.request<Partial<SubscribedRecord>>({
      method: 'DELETE',
      url: byId ? `/v1/subscriptions/${encodeURIComponent(id)}` : '/v1/subscriptions',
      params: byId ? {} : { target_url: bundle.targetUrl },
      skipThrowForStatus: true,
    });
    if (response.status === 401 || response.status === 404) return { id: byId ? id : null, active: false };
    if (response.status >= 300) return throwApiError(z, response);
    return { id: byId ? id : (response.data?.id ?? null), active: false };
  };

  /**
   * The delivery's JSON body is the record, exactly as the catalog defines it for the event type, once its
   * signature proves IllumiChat sent it (deliveredRecord says why the raw body, not cleanedRequest). A forged
   * request halts: it must not run the Zap, nor count towards switching the Zap off.
   */
  const perform = (z: ZObject, bundle: Bundle): DeliveredRecord[] => {
    const secret = (bundle.subscribeData as Partial<SubscribedRecord> | undefined)?.secret;
    if (secret && process.env[SKIP_SIGNATURE_CHECK] !== '1') {
      const verdict = verifyDelivery(secret, bundle.rawRequest ?? {});
      if (!verdict.ok) {
        throw new z.errors.HaltedError(
          `Ignored a request to this Zap's hook URL that IllumiChat did not sign (${verdict.reason}).`,
        );
      }
    }
    const record = deliveredRecord(bundle);
    if (!record) throw new z.errors.Error('The IllumiChat delivery carried no JSON record.', 'invalid_delivery', 400);
    return !accepts || accepts(bundle, record) ? [record] : [];
  };

  /**
   * Test trigger: the workspace's latest real events of the type, or the fixture when there are none yet. At
   * most `bundle.meta.limit` records when Zapier sets one (-1 means no limit), and at most the API's 10.
   */
  const performList = async (z: ZObject, bundle: Bundle): Promise<DeliveredRecord[]> => {
    const limit = sampleLimit(bundle);
    // With a filter of the app's own, the most samples there are, so that some pass it.
    const asked = accepts ? MAX_SAMPLES : limit;
    const response = await z.request<{ data: DeliveredRecord[] }>({
      url: '/v1/samples',
      params: {
        event_type: eventTypeOf(z, bundle),
        ...assistantFilter(bundle),
        ...(asked ? { limit: String(asked) } : {}),
      },
    });
    const records = accepts ? response.data.data.filter((record) => accepts(bundle, record)) : response.data.data;
    return limit ? records.slice(0, limit) : records;
  };

  return {
    type: 'hook' as const,
    performSubscribe,
    performUnsubscribe,
    perform,
    performList,
    inputFields,
    outputFields,
    sample,
  };
}

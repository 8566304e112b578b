/**
 * Tag Added: a tag put on a contact or a conversation, by an agent or a Zap. The optional Tag and Record
 * Kind filters are applied here, on the delivered record: IllumiChat's subscriptions filter by event type and
 * assistant only, so a tag this Zap does not want arrives and is dropped without running the Zap.
 */
import { type Bundle, defineInputFields, defineTrigger } from 'zapier-platform-core';

import { TAG_ADDED, TAG_ADDED_EVENT, TAGGED_RECORD_TYPES } from '../../catalog/events';
import { tagKey } from '../../catalog/records';
import { fixtureFor } from '../../fixtures';
import { outputFieldsOf } from '../outputFields';
import { type DeliveredRecord, restHookOperation } from '../rest-hooks';

const inputFields = defineInputFields([
  {
    key: 'tag',
    label: 'Tag',
    required: false,
    helpText:
      'Only fire for this tag (letter case and surrounding spaces do not matter, as in IllumiChat). Leave blank to fire for every tag.',
  },
  {
    key: 'record_type',
    label: 'Tagged Record',
    required: false,
    choices: TAGGED_RECORD_TYPES.map((type) => ({
      value: type,
      sample: type,
      label: type === 'contact' ? 'Contact' : 'Conversation',
    })),
    helpText: 'Only fire for tags added to contacts, or only to conversations. Leave blank for both.',
  },
]);

/** Whether the delivered tag.added record passes the trigger's Tag and Tagged Record filters. */
export function acceptsTag(bundle: Bundle, record: DeliveredRecord): boolean {
  const data = (record.data ?? {}) as { tag?: unknown; recordType?: unknown };
  const { tag, record_type: recordType } = bundle.inputData as { tag?: unknown; record_type?: unknown };
  const delivered = typeof data.tag === 'string' ? data.tag : '';
  if (typeof tag === 'string' && tag.trim() && tagKey(tag) !== tagKey(delivered)) return false;
  // Any letter case: a custom value typed into the dropdown reads as its label does ("Contact").
  const kind = typeof recordType === 'string' ? recordType.trim().toLowerCase() : '';
  if (kind && kind !== data.recordType) return false;
  return true;
}

const operation = restHookOperation({
  eventType: () => TAG_ADDED,
  inputFields,
  outputFields: outputFieldsOf(TAG_ADDED_EVENT.schema),
  sample: fixtureFor(TAG_ADDED),
  accepts: acceptsTag,
});

export const { performSubscribe, performUnsubscribe, perform, performList } = operation;

export default defineTrigger({
  key: 'tag_added',
  noun: 'Tag',
  display: {
    label: 'Tag Added',
    description: 'Triggers when a tag is added to a contact or a conversation.',
  },
  operation,
});

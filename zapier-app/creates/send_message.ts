/** Send Message to Conversation: posts into a conversation a human agent has taken over. */
import { type CreatePerform, defineCreate, defineInputFields, type InferInputData } from 'zapier-platform-core';

import { runKeyField, runKeyOf } from '../idempotency';
import { outputFieldsOf } from '../outputFields';
import { type MessageRecord, messageSample, messageSchema } from '../records';
import { writeRecord } from './write';

export const KEY = 'send_message';

const inputFields = defineInputFields([
  {
    key: 'conversation_id',
    label: 'Conversation',
    required: true,
    dynamic: 'conversation_list.id.label',
    helpText:
      'A conversation in live-chat takeover (a human agent holds it). Map the Conversation ID from a Live Chat Picked Up event, or pick one.',
  },
  {
    key: 'message',
    label: 'Message',
    type: 'text',
    required: true,
    helpText: 'The text the visitor sees in the chat, sent on behalf of your workspace.',
  },
  runKeyField,
]);

export const perform = (async (z, bundle) => {
  const { conversation_id, message } = bundle.inputData;
  const path = `/v1/conversations/${encodeURIComponent(String(conversation_id).trim())}/messages`;
  return writeRecord<MessageRecord>(z, {
    operationKey: KEY,
    method: 'POST',
    path,
    body: { message },
    runKey: runKeyOf(bundle.inputData),
  });
}) satisfies CreatePerform<InferInputData<typeof inputFields>>;

export default defineCreate({
  key: KEY,
  noun: 'Message',
  display: {
    label: 'Send Message to Conversation',
    description: 'Creates a message in a conversation that a human agent has taken over (live chat).',
  },
  operation: { perform, inputFields, outputFields: outputFieldsOf(messageSchema), sample: messageSample },
});

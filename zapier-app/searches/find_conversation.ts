/**
 * Find Conversation: by its ID, or the latest conversation of a visitor by the email they gave (in the widget
 * or on the lead form). Not paired with a create: conversations are started by visitors, never by a Zap.
 */
import { defineInputFields, defineSearch, type InferInputData, type SearchPerform } from 'zapier-platform-core';

import type { ConversationRecord } from '../../catalog/events';
import { cleanEmail } from '../inputFields';
import { outputFieldsOf } from '../outputFields';
import { type ConversationDetailRecord, conversationDetailSample, conversationDetailSchema } from '../records';
import { readById, textOf } from './read';

export const KEY = 'find_conversation';

export const NOTHING_TO_FIND =
  'Fill Conversation ID or Visitor Email: Find Conversation needs one of them to look for (this run’s mapped values were both blank).';

const inputFields = defineInputFields([
  {
    key: 'conversation_id',
    label: 'Conversation ID',
    required: false,
    helpText: 'The conversation’s ID (`cnv_…`). When given, Visitor Email is not used.',
  },
  {
    key: 'visitor_email',
    label: 'Visitor Email',
    required: false,
    helpText:
      'Finds the latest conversation of the visitor who gave this email in the chat or on the lead form; letter case does not matter.',
  },
]);

export const perform = (async (z, bundle) => {
  const id = textOf(bundle.inputData.conversation_id);
  const email = cleanEmail(bundle.inputData.visitor_email);
  if (!id && !email) throw new z.errors.Error(NOTHING_TO_FIND, 'missing_search_input', 400);
  if (id) return readById<ConversationDetailRecord>(z, `/v1/conversations/${encodeURIComponent(id)}`);
  const latest = await z.request<{ data: ConversationRecord[] }>({
    url: '/v1/conversations',
    params: { visitor_email: email!, limit: '1' },
  });
  const found = latest.data.data[0];
  return found ? readById<ConversationDetailRecord>(z, `/v1/conversations/${encodeURIComponent(found.id)}`) : [];
}) satisfies SearchPerform<InferInputData<typeof inputFields>>;

export default defineSearch({
  key: KEY,
  noun: 'Conversation',
  display: {
    label: 'Find Conversation',
    description: 'Finds a conversation by its ID, or the latest one of a visitor by email.',
  },
  operation: {
    perform,
    inputFields,
    outputFields: outputFieldsOf(conversationDetailSchema),
    sample: conversationDetailSample,
  },
});

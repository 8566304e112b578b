/**
 * Add Tag to Contact, Remove Tag from Contact and Add Tag to Conversation. Tagging is idempotent by nature
 * (a tag the record has, in any letter case, is a no-op that fires nothing), so these carry no Unique Run ID.
 */
import {
  type Bundle,
  type CreatePerform,
  defineCreate,
  defineInputField,
  defineInputFields,
  type InferInputData,
  type ZObject,
} from 'zapier-platform-core';

import { outputFieldsOf } from '../outputFields';
import { contactTagsSample, conversationTagsSample, type TagsResultRecord, tagsResultSchema } from '../records';
import { writeRecord } from './write';

export const ADD_TO_CONTACT = 'add_tag_to_contact';
export const REMOVE_FROM_CONTACT = 'remove_tag_from_contact';
export const ADD_TO_CONVERSATION = 'add_tag_to_conversation';

const contactIdField = defineInputField({
  key: 'contact_id',
  label: 'Contact ID',
  required: true,
  helpText:
    'The contact’s ID (`con_…`): map it from Lead Captured, Find Contact or Create or Update Contact in an earlier step.',
});

const tagField = (help: string) => defineInputField({ key: 'tag', label: 'Tag', required: true, helpText: help });

const idOf = (value: unknown) => encodeURIComponent(String(value).trim());

const contactInputs = (help: string) => defineInputFields([contactIdField, tagField(help)]);
const addToContactInputs = contactInputs(
  'Up to 50 characters, in any language. A tag the contact already has (in any letter case) is left as it is.',
);
const removeFromContactInputs = contactInputs(
  'The tag to take off, in any letter case. Nothing happens if the contact does not have it.',
);
const conversationInputs = defineInputFields([
  {
    key: 'conversation_id',
    label: 'Conversation ID',
    required: true,
    helpText:
      'The conversation’s ID (`cnv_…`): map it from a Conversation Event trigger (`data.conversation.id`) or Find Conversation.',
  },
  tagField('Up to 50 characters, in any language. A tag the conversation already has is left as it is.'),
]);

type Inputs = InferInputData<typeof addToContactInputs>;

export const addToContact = (async (z: ZObject, bundle: Bundle<Inputs>) =>
  writeRecord<TagsResultRecord>(z, {
    operationKey: ADD_TO_CONTACT,
    method: 'POST',
    path: `/v1/contacts/${idOf(bundle.inputData.contact_id)}/tags`,
    body: { tag: bundle.inputData.tag },
  })) satisfies CreatePerform<Inputs>;

export const NO_TAG_TO_REMOVE =
  'Tag is blank in this run: map or type the tag to remove (the tag is part of the address, so a blank one cannot be sent).';

export const removeFromContact = (async (z: ZObject, bundle: Bundle<Inputs>) => {
  const tag = typeof bundle.inputData.tag === 'string' ? bundle.inputData.tag.trim() : '';
  // A blank tag would make the path IllumiChat's contact tag list itself, which no route answers.
  if (!tag) throw new z.errors.Error(NO_TAG_TO_REMOVE, 'missing_tag', 400);
  return writeRecord<TagsResultRecord>(z, {
    operationKey: REMOVE_FROM_CONTACT,
    method: 'DELETE',
    path: `/v1/contacts/${idOf(bundle.inputData.contact_id)}/tags/${encodeURIComponent(tag)}`,
  });
}) satisfies CreatePerform<Inputs>;

type ConversationInputs = InferInputData<typeof conversationInputs>;

export const addToConversation = (async (z: ZObject, bundle: Bundle<ConversationInputs>) =>
  writeRecord<TagsResultRecord>(z, {
    operationKey: ADD_TO_CONVERSATION,
    method: 'POST',
    path: `/v1/conversations/${idOf(bundle.inputData.conversation_id)}/tags`,
    body: { tag: bundle.inputData.tag },
  })) satisfies CreatePerform<ConversationInputs>;

const outputFields = outputFieldsOf(tagsResultSchema);

export const addTagToContact = defineCreate({
  key: ADD_TO_CONTACT,
  noun: 'Tag',
  display: {
    label: 'Add Tag to Contact',
    description: 'Updates a contact by adding a tag to it (a tag it already has is left as it is).',
  },
  operation: { perform: addToContact, inputFields: addToContactInputs, outputFields, sample: contactTagsSample },
});

export const removeTagFromContact = defineCreate({
  key: REMOVE_FROM_CONTACT,
  noun: 'Tag',
  display: {
    label: 'Remove Tag from Contact',
    description: 'Updates a contact by removing a tag from it, in any letter case.',
  },
  operation: {
    perform: removeFromContact,
    inputFields: removeFromContactInputs,
    outputFields,
    sample: { ...contactTagsSample, tags: ['Newsletter'] },
  },
});

export const addTagToConversation = defineCreate({
  key: ADD_TO_CONVERSATION,
  noun: 'Tag',
  display: {
    label: 'Add Tag to Conversation',
    description: 'Updates a conversation by adding a tag to it (a tag it already has is left as it is).',
  },
  operation: {
    perform: addToConversation,
    inputFields: conversationInputs,
    outputFields,
    sample: conversationTagsSample,
  },
});

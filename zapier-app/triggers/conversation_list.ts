/**
 * The Conversation dropdown of Send Message: only conversations a human agent holds (takeover), since
 * IllumiChat refuses messages into the others.
 */
import type { ConversationRecord } from '../../catalog/events';
import { dropdownTrigger } from './dropdown';

export const LABEL_MESSAGE_LENGTH = 60;

export function conversationLabel(conversation: ConversationRecord): string {
  const who = conversation.visitorName ?? conversation.visitorEmail ?? 'Visitor';
  const first = conversation.firstMessage?.trim();
  if (!first) return who;
  const cut = first.length > LABEL_MESSAGE_LENGTH ? `${first.slice(0, LABEL_MESSAGE_LENGTH - 1)}…` : first;
  return `${who}: ${cut}`;
}

export default dropdownTrigger({
  key: 'conversation_list',
  noun: 'Conversation',
  path: '/v1/conversations',
  params: { mode: 'human' },
  label: conversationLabel,
});

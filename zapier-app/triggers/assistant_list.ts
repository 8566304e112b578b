/** The Assistant dropdown of both triggers. */
import { dropdownTrigger } from './dropdown';

export interface AssistantRecord {
  id: string;
  name: string;
}

export default dropdownTrigger({
  key: 'assistant_list',
  noun: 'Assistant',
  path: '/v1/assistants',
  label: (assistant: AssistantRecord) => assistant.name,
});

/** Input fields and value handling shared by several operations. */
import { defineInputField } from 'zapier-platform-core';

/** Both triggers can be narrowed to one assistant; the filter travels with the subscription. */
export const assistantFilterField = defineInputField({
  key: 'assistant_id',
  label: 'Assistant',
  required: false,
  dynamic: 'assistant_list.id.name',
  helpText: 'Only fire for events from this assistant. Leave blank to fire for every assistant in the workspace.',
});

/**
 * The API body from a step's input: blank and unmapped fields are left out, so an update never overwrites a
 * stored value with an empty one.
 */
export function presentValues<T extends Record<string, unknown>>(values: T): Partial<T> {
  const present: Partial<T> = {};
  for (const [key, value] of Object.entries(values) as [keyof T, T[keyof T]][]) {
    if (value === undefined || value === null) continue;
    if (typeof value === 'string' && value.trim() === '') continue;
    present[key] = value;
  }
  return present;
}

/** Mapped emails often arrive with stray spaces; IllumiChat matches them exactly (case-insensitive). */
export function cleanEmail(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

/**
 * Flattens a payload schema into the field list Zapier shows: nested keys joined with `__`
 * (Zapier's own convention, so `data__ticket__id` maps `data.ticket.id`), each with a readable label. A list of
 * records becomes Zapier's line items (`recentMessages[]body`); a record of workspace-chosen keys (a contact's
 * custom `attributes`) has no static fields and is left out.
 */
import { z } from 'zod';

export type FieldType = 'string' | 'number' | 'integer' | 'boolean' | 'datetime';
export interface PayloadField {
  key: string;
  label: string;
  type: FieldType;
  nullable: boolean;
  /** The allowed values, for enum fields. */
  choices?: string[];
  /** A list of values of `type` (a record's tags). */
  list?: true;
}

export function payloadFields(schema: z.ZodObject, prefix = ''): PayloadField[] {
  const fields: PayloadField[] = [];
  for (const [name, raw] of Object.entries(schema.shape)) {
    const key = prefix ? `${prefix}__${name}` : name;
    let inner = raw as z.ZodType;
    let nullable = false;
    while (inner instanceof z.ZodNullable || inner instanceof z.ZodOptional) {
      nullable = true;
      inner = inner.unwrap() as z.ZodType;
    }
    if (inner instanceof z.ZodObject) {
      fields.push(...payloadFields(inner, key));
    } else if (inner instanceof z.ZodRecord) {
      // Keys chosen per workspace (custom attributes): no static field; the Zapier app lists them live.
      continue;
    } else if (inner instanceof z.ZodArray && inner.element instanceof z.ZodObject) {
      // A list of records (a conversation's recent messages): Zapier's line items, keyed `list[]field`.
      for (const item of payloadFields(inner.element))
        fields.push({ ...item, key: `${key}[]${item.key}`, label: labelFor(`${key}__${item.key}`), list: true });
    } else if (inner instanceof z.ZodArray) {
      fields.push({ key, label: labelFor(key), type: fieldType(inner.element as z.ZodType), nullable, list: true });
    } else {
      const choices = inner instanceof z.ZodEnum ? (inner.options as string[]) : undefined;
      fields.push({ key, label: labelFor(key), type: fieldType(inner), nullable, ...(choices && { choices }) });
    }
  }
  return fields;
}

function fieldType(schema: z.ZodType): FieldType {
  if (schema instanceof z.ZodISODateTime) return 'datetime';
  if (schema instanceof z.ZodNumber) return schema.format === 'safeint' ? 'integer' : 'number';
  if (schema instanceof z.ZodBoolean) return 'boolean';
  return 'string';
}

const ACRONYMS: Record<string, string> = { id: 'ID', url: 'URL' };

/** `data__ticket__assigneeEmail` → `Ticket Assignee Email`; the `data` wrapper says nothing to a builder. */
export function labelFor(key: string): string {
  const words = key
    .split('__')
    .filter((part, i) => !(i === 0 && part === 'data'))
    .flatMap((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1 $2').split(/[\s_]+/));
  return words.map((w) => ACRONYMS[w.toLowerCase()] ?? w.charAt(0).toUpperCase() + w.slice(1)).join(' ');
}

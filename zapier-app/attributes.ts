/**
 * The workspace's custom contact attributes in the Zapier editor: Create or Update Contact shows one typed
 * input field per attribute (Zapier's dynamic fields: a function among the input fields, run when the editor
 * opens the step), and the contact and Lead Captured records list them as output fields, `attributes__<key>`.
 * Definitions come from GET /v1/contact-attributes (contacts:write); agents define them in IllumiChat.
 */
import type { Bundle, PlainInputField, PlainOutputField, ZObject } from 'zapier-platform-core';

import type { AttributeDefinitionRecord, AttributeType } from '../catalog/records';

/** An attribute's input field is this prefix and its key: new keys beside the contact's own, never among them. */
export const ATTRIBUTE_FIELD_PREFIX = 'attribute_';

const INPUT_TYPES: Record<AttributeType, NonNullable<PlainInputField['type']>> = {
  text: 'string',
  number: 'number',
  boolean: 'boolean',
  date: 'datetime',
};

const OUTPUT_TYPES: Record<AttributeType, NonNullable<PlainOutputField['type']>> = {
  text: 'string',
  number: 'number',
  boolean: 'boolean',
  date: 'string',
};

const HELP: Record<AttributeType, string> = {
  text: 'Text, up to 1,000 characters. Leave blank to keep the contact’s current value.',
  number: 'A number, such as 25 or 4.5. Leave blank to keep the contact’s current value.',
  boolean: 'True or false. Leave blank to keep the contact’s current value.',
  date: 'A date; only the day is kept (YYYY-MM-DD). Leave blank to keep the contact’s current value.',
};

export async function fetchAttributes(z: ZObject): Promise<AttributeDefinitionRecord[]> {
  const response = await z.request<{ data: AttributeDefinitionRecord[] }>({ url: '/v1/contact-attributes' });
  return response.data.data;
}

/** Create or Update Contact's dynamic fields: one per attribute, typed, optional, after the static fields. */
export async function attributeInputFields(z: ZObject): Promise<PlainInputField[]> {
  return (await fetchAttributes(z)).map((a) => ({
    key: `${ATTRIBUTE_FIELD_PREFIX}${a.key}`,
    label: a.label,
    type: INPUT_TYPES[a.type],
    required: false,
    helpText: HELP[a.type],
  }));
}

/**
 * The attribute output fields of a contact or a lead. Lead Captured needs only events:read, so a key without
 * contacts:write lists none (the values still arrive in `attributes`) rather than failing the editor.
 */
export async function attributeOutputFields(z: ZObject, _bundle: Bundle): Promise<PlainOutputField[]> {
  const response = await z.request<{ data: AttributeDefinitionRecord[] }>({
    url: '/v1/contact-attributes',
    skipThrowForStatus: true,
  });
  if (response.status >= 400) return [];
  return response.data.data.map((a) => ({ key: `attributes__${a.key}`, label: a.label, type: OUTPUT_TYPES[a.type] }));
}

const TRUE = new Set(['true', 'yes', '1', 'on']);
const FALSE = new Set(['false', 'no', '0', 'off']);
const ISO_DAY = /^(\d{4}-\d{2}-\d{2})(?:[T ].*)?$/;
/** A decimal number as people type it (`25`, `-2.5`, `.5`, `1e3`); not Number()'s `0x10`, `0b11` or `0o7`. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

/**
 * The value IllumiChat expects for `type` from what Zapier sent (mapped values arrive as text): numbers and
 * booleans parsed, a date-time cut to its day as written. Anything else is sent as given, so IllumiChat's 422
 * names the field and says what it must be.
 */
export function attributeValue(type: AttributeType, raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  const text = raw.trim();
  switch (type) {
    case 'number':
      return DECIMAL.test(text) && Number.isFinite(Number(text)) ? Number(text) : raw;
    case 'boolean':
      return TRUE.has(text.toLowerCase()) ? true : FALSE.has(text.toLowerCase()) ? false : raw;
    case 'date':
      return ISO_DAY.exec(text)?.[1] ?? raw;
    case 'text':
      return raw;
  }
}

/**
 * The `attributes` body of Create or Update Contact: each filled attribute field, converted by its type. Blank
 * fields are left out, so they keep the contact's value. Undefined when none is filled (no request needed).
 */
export async function attributeValues(
  z: ZObject,
  inputData: Record<string, unknown>,
): Promise<Record<string, unknown> | undefined> {
  const given = Object.entries(inputData).filter(
    ([key, value]) =>
      key.startsWith(ATTRIBUTE_FIELD_PREFIX) &&
      value !== undefined &&
      value !== null &&
      !(typeof value === 'string' && value.trim() === ''),
  );
  if (given.length === 0) return undefined;
  const types = new Map((await fetchAttributes(z)).map((a) => [a.key, a.type]));
  const values: Record<string, unknown> = {};
  for (const [field, raw] of given) {
    const key = field.slice(ATTRIBUTE_FIELD_PREFIX.length);
    const type = types.get(key);
    // An attribute no longer defined is sent as given: IllumiChat's 422 says so, rather than a silent drop.
    values[key] = type ? attributeValue(type, raw) : raw;
  }
  return values;
}

/** Zapier output fields from a catalog schema: the same keys, labels and types the API delivers. */
import type { PlainOutputField } from 'zapier-platform-core';
import type { z } from 'zod';

import { payloadFields } from '../catalog/fields';

export function outputFieldsOf(schema: z.ZodObject): PlainOutputField[] {
  return payloadFields(schema).map(({ key, label, type }) => ({ key, label, type }));
}

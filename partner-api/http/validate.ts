/** zod at the boundary: every body, query and path parameter is parsed here, and a failure is a 422. */
import { z } from 'zod';
import { validationFailed, type ErrorDetail } from '../domain/errors';

/** Zapier sends a left-blank optional field as "" or null: both mean "not given". */
function blankToUndefined(value: unknown): unknown {
  if (value === null) return undefined;
  if (typeof value === 'string' && value.trim() === '') return undefined;
  return value;
}

/** An optional trimmed string of at most `max` characters; blank counts as absent. */
export function optionalText(max: number) {
  return z.preprocess(blankToUndefined, z.string().trim().max(max).optional());
}

export function requiredText(max: number) {
  return z.string().trim().min(1, 'Must not be blank.').max(max);
}

export function optionalEnum<const T extends readonly [string, ...string[]]>(values: T) {
  return z.preprocess(blankToUndefined, z.enum(values).optional());
}

export const emailField = z.string().trim().max(320).pipe(z.email('Must be an email address.'));

export const optionalEmail = z.preprocess(blankToUndefined, emailField.optional());

/** A prefixed id in a path or a field; anything else can only be unknown, so it stays a plain string. */
export const idField = z.string().min(1).max(100);

export const limitQuery = (fallback: number, max: number) =>
  z.preprocess(
    (v) => (v === undefined || v === '' ? fallback : v),
    z.coerce.number().int('Must be a whole number.').min(1).max(max),
  );

export function zodDetails(error: z.ZodError, prefix = ''): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const issue of error.issues) {
    const base = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) details.push({ path: base ? `${base}.${key}` : key, message: 'Unknown field.' });
    } else {
      details.push({ path: base, message: issue.message });
    }
  }
  return details;
}

const requiredMessage = (issue: { input?: unknown; code: string }) =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'Required.' : undefined;

/** Parses `input` or throws 422 validation_failed naming each bad field. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(input, { error: requiredMessage });
  if (!result.success) throw validationFailed(zodDetails(result.error, prefix));
  return result.data;
}

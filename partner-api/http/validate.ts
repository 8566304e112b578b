/** zod at the boundary: every body, query and path parameter is parsed here, and a failure is a 422. */
import isEmail from 'validator/lib/isEmail';
import { z } from 'zod';

import { type ErrorDetail, validationFailed } from '../domain/errors';

/** Zapier sends a left-blank optional field as "" or null: both mean "not given". */
function blankToUndefined(value: unknown): unknown {
  if (value === null) return undefined;
  if (typeof value === 'string' && value.trim() === '') return undefined;
  return value;
}

/**
 * Free text (a subject, a description, a message) may span lines, but holds no NUL (U+0000): no one types
 * one, and PostgreSQL's text cannot store it (its query would fail, a 500), so both engines refuse it.
 */
const NO_NUL: [(v: string) => boolean, string] = [(v) => !v.includes('\0'), 'Must not contain a NUL character.'];

/** An optional trimmed string of at most `max` characters; blank counts as absent. */
export function optionalText(max: number) {
  return z.preprocess(
    blankToUndefined,
    z
      .string()
      .trim()
      .max(max)
      .refine(...NO_NUL)
      .optional(),
  );
}

export function requiredText(max: number) {
  return z
    .string()
    .trim()
    .min(1, 'Must not be blank.')
    .max(max)
    .refine(...NO_NUL);
}

export function optionalEnum<const T extends readonly [string, ...string[]]>(values: T) {
  return z.preprocess(blankToUndefined, z.enum(values).optional());
}

/**
 * Names and phone numbers: any script, emoji, apostrophes and combining marks, stored exactly as typed (no
 * normalisation). Refused: control characters (a name or number is one line; a NUL or an escape sequence
 * is never part of one) and lone UTF-16 surrogates, which SQLite would store as U+FFFD, so the value read
 * back would not be the value sent.
 */
const CONTROL = /\p{Cc}/u;
/** With the u flag a surrogate pair is one code point, so only a lone surrogate matches. */
const LONE_SURROGATE = /\p{Cs}/u;

function line(max: number, tooLong?: { message: string; abort: true }) {
  return z
    .string()
    .trim()
    .max(max, tooLong)
    .refine((v) => !CONTROL.test(v), 'Must be one line without control characters.')
    .refine((v) => !LONE_SURROGATE.test(v), 'Must be valid Unicode text (a lone surrogate is not).');
}

export function optionalLine(max: number) {
  return z.preprocess(blankToUndefined, line(max).optional());
}

/** As optionalLine, but required and not blank; `max` counts code points (an emoji is one), not UTF-16 units. */
export function requiredLine(max: number) {
  const tooLong = `Must be at most ${max} characters.`;
  // The UTF-16 bound (4 units a character, twice what any code point takes) only spares counting a huge value;
  // it says the same limit and stops there, so a long value gets one detail with the documented number.
  return line(4 * max, { message: tooLong, abort: true })
    .min(1, 'Must not be blank.')
    .refine((v) => [...v].length <= max, tooLong);
}

/**
 * Address syntax is validator.js's isEmail (RFC 5321/5322 mailbox syntax), not ours. Accepted: every
 * dot-atom character in the local part (`a&b`, `o'leary`, `!#$%&'*+-/=?^_\`{|}~`), sub-addresses,
 * quoted local parts (`"john doe"@…`), UTF-8 local parts (RFC 6531, EAI), internationalised domains as
 * U-labels or A-labels, any TLD of two or more letters. Refused: no TLD (`a@localhost`), IP-literal
 * domains (no CRM contact is reached at `[127.0.0.1]`), display names (`Joe <joe@…>`), comments, and the
 * RFC 5321 lengths (64 for the local part, 254 in all).
 */
const EMAIL_SYNTAX = {
  allow_utf8_local_part: true,
  require_tld: true,
  allow_ip_domain: false,
  allow_display_name: false,
  allow_underscores: false,
} as const;

/** Trimmed; 320 characters is a cheap bound before the syntax check (which holds the real 254). */
export const emailField = z
  .string()
  .trim()
  .max(320)
  .refine((v) => !LONE_SURROGATE.test(v) && isEmail(v, EMAIL_SYNTAX), 'Must be an email address.');

export const optionalEmail = z.preprocess(blankToUndefined, emailField.optional());

/** A prefixed id in a path or a field; anything else can only be unknown, so it stays a plain string. */
/**
 * A path id. No id holds a NUL (ids are `prefix_hex`), and PostgreSQL's text cannot hold one at all (its
 * query fails, a 500): a NUL is read as U+FFFD, which no id holds either, so the answer is the 404 SQLite gives.
 */
export const idField = z
  .string()
  .min(1)
  .max(100)
  .transform((id) => id.replaceAll('\0', '\uFFFD'));

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

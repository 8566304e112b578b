/**
 * The workspace's custom contact attributes: each has a key (`plan`, `renewal_date`), a label Zap builders
 * see, and a type (text, number, boolean, date), and contacts carry a value per attribute, validated by type.
 * Values are JSON in contacts.attributes; a contact without a value for an attribute has no key for it.
 */
import type { AttributeValues } from '../../catalog/events';
import type { AttributeDefinitionRecord, AttributeType } from '../../catalog/records';
import type { AppContext } from '../context';
import { inTransaction } from '../context';
import { isoAt } from '../lib/clock';
import { ApiError, type ErrorDetail, invalidState, validationFailed } from './errors';
import { lockWorkspace } from './locks';

/** Attributes one workspace may define: Zapier shows each as an input field of Create or Update Contact. */
export const ATTRIBUTES_PER_WORKSPACE = 50;
/** Characters a text value may have. */
export const ATTRIBUTE_TEXT_MAX = 1000;
/** A key: a lower-case letter, then lower-case letters, digits and underscores, 40 in all (a Zapier field key). */
export const ATTRIBUTE_KEY = /^[a-z][a-z0-9_]{0,39}$/;

interface AttributeRow {
  key: string;
  label: string;
  type: AttributeType;
  created_at: string;
}

const record = (r: AttributeRow): AttributeDefinitionRecord => ({
  key: r.key,
  label: r.label,
  type: r.type,
  createdAt: r.created_at,
});

/** The workspace's attributes in key order (the primary key's order). */
export async function listAttributes(ctx: AppContext, workspaceId: string): Promise<AttributeDefinitionRecord[]> {
  return (
    await ctx.db.all<AttributeRow>(
      'SELECT key, label, type, created_at FROM contact_attributes WHERE workspace_id = ? ORDER BY key',
      workspaceId,
    )
  ).map(record);
}

/**
 * Defines an attribute, or renames the label of one already defined with the same type (`created` false).
 * Throws 409 invalid_state for a key already defined with another type (stored values would no longer fit
 * it), 409 attribute_limit_reached beyond ATTRIBUTES_PER_WORKSPACE.
 */
export async function defineAttribute(
  ctx: AppContext,
  workspaceId: string,
  input: { key: string; label: string; type: AttributeType },
): Promise<{ attribute: AttributeDefinitionRecord; created: boolean }> {
  return await inTransaction(ctx, async (ctx) => {
    // The workspace's row lock makes the count against the limit exact with many writers (domain/locks.ts).
    await lockWorkspace(ctx, workspaceId);
    const existing = await ctx.db.one<AttributeRow>(
      'SELECT key, label, type, created_at FROM contact_attributes WHERE workspace_id = ? AND key = ?',
      workspaceId,
      input.key,
    );
    if (existing) {
      if (existing.type !== input.type) {
        throw invalidState(
          `The attribute ${input.key} is already defined as ${existing.type}; an attribute's type cannot change.`,
        );
      }
      await ctx.db.run(
        'UPDATE contact_attributes SET label = ? WHERE workspace_id = ? AND key = ?',
        input.label,
        workspaceId,
        input.key,
      );
      return { attribute: record({ ...existing, label: input.label }), created: false };
    }
    const count = (await ctx.db.value<number>(
      'SELECT COUNT(*) FROM contact_attributes WHERE workspace_id = ?',
      workspaceId,
    ))!;
    if (count >= ATTRIBUTES_PER_WORKSPACE) {
      throw new ApiError(
        409,
        'attribute_limit_reached',
        `This workspace already has ${ATTRIBUTES_PER_WORKSPACE} contact attributes, the most it may define.`,
        { fields: { limit: ATTRIBUTES_PER_WORKSPACE } },
      );
    }
    const row: AttributeRow = { ...input, created_at: isoAt(ctx.clock.now()) };
    await ctx.db.run(
      'INSERT INTO contact_attributes (workspace_id, key, label, type, created_at) VALUES (?, ?, ?, ?, ?)',
      workspaceId,
      row.key,
      row.label,
      row.type,
      row.created_at,
    );
    return { attribute: record(row), created: true };
  });
}

/** Why a key given in `attributes` is refused when the workspace has not defined it. */
export const UNKNOWN_ATTRIBUTE = 'No such attribute in this workspace. Define it first.';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A real calendar date as YYYY-MM-DD (so 2026-02-30 is refused, not rolled into March). */
function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0 to 99 as 1900 to 1999, which refused 0050-06-15.
  const date = new Date(0);
  date.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return date.toISOString().slice(0, 10) === value;
}

/** Why `value` is not a value of `type`, or null when it is. */
function typeProblem(type: AttributeType, value: unknown): string | null {
  switch (type) {
    case 'text':
      if (typeof value !== 'string') return 'Must be text.';
      if (value.length > ATTRIBUTE_TEXT_MAX) return `Must be at most ${ATTRIBUTE_TEXT_MAX} characters.`;
      return /\p{Cs}/u.test(value) ? 'Must be valid Unicode text (a lone surrogate is not).' : null;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? null : 'Must be a number.';
    case 'boolean':
      return typeof value === 'boolean' ? null : 'Must be true or false.';
    case 'date':
      return typeof value === 'string' && isCalendarDate(value) ? null : 'Must be a date as YYYY-MM-DD.';
  }
}

/** What given attribute values change: a key set to a value, or to null (removed). */
export type AttributeChanges = ReadonlyMap<string, string | number | boolean | null>;

/**
 * Given attribute values, checked against the workspace's definitions: what each key changes (a value sets
 * it, null removes it). Text is trimmed, and blank text counts as not given, as every optional field does.
 * Throws 422 validation_failed naming `attributes.<key>` for each key the workspace has not defined and each
 * value not of its attribute's type. Reads the definitions once; mergeAttributeValues applies the result.
 */
export async function checkAttributeValues(
  ctx: AppContext,
  workspaceId: string,
  given: Record<string, unknown>,
): Promise<AttributeChanges> {
  const types = new Map((await listAttributes(ctx, workspaceId)).map((a) => [a.key, a.type]));
  const changes = new Map<string, string | number | boolean | null>();
  const details: ErrorDetail[] = [];
  for (const [key, raw] of Object.entries(given)) {
    const type = types.get(key);
    const path = `attributes.${key}`;
    if (!type) {
      details.push({ path, message: UNKNOWN_ATTRIBUTE });
      continue;
    }
    if (raw === null) {
      changes.set(key, null);
      continue;
    }
    const value = typeof raw === 'string' ? raw.trim() : raw;
    if (value === '') continue;
    const problem = typeProblem(type, value);
    if (problem) details.push({ path, message: problem });
    else changes.set(key, value as string | number | boolean);
  }
  if (details.length > 0) throw validationFailed(details);
  return changes;
}

/** A contact's values after `changes` (checkAttributeValues) are applied to `current`; `current` is left as it was. */
export function mergeAttributeValues(current: AttributeValues, changes: AttributeChanges): AttributeValues {
  const next: AttributeValues = { ...current };
  for (const [key, value] of changes) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return next;
}

/** Parses a stored attributes column (written only with mergeAttributeValues' values). */
export function parseAttributeValues(json: string): AttributeValues {
  return JSON.parse(json) as AttributeValues;
}

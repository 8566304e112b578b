/**
 * Hidden triggers that fill dynamic dropdowns. Each lists one kind of record, newest first, 100 to a page
 * (the API's largest), with a readable `label`, and pages through all of them with "Load more".
 *
 * Paging follows Zapier's cursor pattern (docs.zapier.com/platform/build/pagination-trigger, and the CLI's
 * paging-cursor snippet): with `canPaginate`, Zapier passes `bundle.meta.page` (0, 1, 2, …) and a cursor
 * store scoped to this dropdown. Page 0 asks the API for its first page; each page stores the API's
 * `nextCursor`, and the next page asks for that cursor. An empty stored cursor means the previous page was
 * the last, so the next page is empty. The store keeps a cursor for an hour; a "Load more" after that starts
 * nothing and returns no more choices, which reloading the dropdown fixes.
 */
import type { Bundle, Trigger, ZObject } from 'zapier-platform-core';

export const DROPDOWN_LIMIT = 100;

export interface DropdownSpec<K extends string, T extends { id: string }> {
  key: K;
  noun: string;
  /** The list endpoint; it answers `{ data: [...], nextCursor?: string | null }`, newest first. */
  path: string;
  params?: Record<string, string>;
  label: (record: T) => string;
}

export type DropdownChoice<T> = T & { label: string };

/** `a ticket`, `an assistant`: the noun with its indefinite article, by its first letter. */
export function withArticle(noun: string): string {
  return `${/^[aeiou]/i.test(noun) ? 'an' : 'a'} ${noun}`;
}

/** The key stays a literal type, so `App.triggers.ticket_list` is typed as this trigger. */
export function dropdownTrigger<const K extends string, T extends { id: string }>(spec: DropdownSpec<K, T>) {
  const perform = async (z: ZObject, bundle: Bundle): Promise<DropdownChoice<T>[]> => {
    let cursor: string | undefined;
    if ((bundle.meta?.page ?? 0) > 0) {
      cursor = (await z.cursor.get()) || undefined;
      if (!cursor) return [];
    }
    const response = await z.request<{ data: T[]; nextCursor?: string | null }>({
      url: spec.path,
      params: { ...spec.params, limit: String(DROPDOWN_LIMIT), ...(cursor ? { cursor } : {}) },
    });
    await z.cursor.set(response.data.nextCursor ?? '');
    return response.data.data.map((record) => ({ ...record, label: spec.label(record) }));
  };

  // `satisfies` rather than defineTrigger keeps the operation's own type, so tests can call its perform.
  return {
    key: spec.key,
    noun: spec.noun,
    display: {
      label: `List ${spec.noun}s`,
      description: `Triggers when ${withArticle(spec.noun.toLowerCase())} is added; used only to fill dropdowns.`,
      hidden: true,
    },
    operation: { type: 'polling' as const, perform, canPaginate: true },
  } satisfies Trigger;
}

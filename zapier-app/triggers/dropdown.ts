/**
 * Hidden triggers that fill dynamic dropdowns. Each lists the newest records of one kind (up to 100, the API's
 * largest page) with a readable `label`; older records can still be mapped or typed in by ID.
 */
import type { Trigger, ZObject } from 'zapier-platform-core';

export const DROPDOWN_LIMIT = 100;

export interface DropdownSpec<K extends string, T extends { id: string }> {
  key: K;
  noun: string;
  /** The list endpoint; it answers `{ data: [...] }`, newest first. */
  path: string;
  params?: Record<string, string>;
  label: (record: T) => string;
}

export type DropdownChoice<T> = T & { label: string };

/** The key stays a literal type, so `App.triggers.ticket_list` is typed as this trigger. */
export function dropdownTrigger<const K extends string, T extends { id: string }>(spec: DropdownSpec<K, T>) {
  const perform = async (z: ZObject): Promise<DropdownChoice<T>[]> => {
    const response = await z.request<{ data: T[] }>({
      url: spec.path,
      params: { ...spec.params, limit: String(DROPDOWN_LIMIT) },
    });
    return response.data.data.map((record) => ({ ...record, label: spec.label(record) }));
  };

  // `satisfies` rather than defineTrigger keeps the operation's own type, so tests can call its perform.
  return {
    key: spec.key,
    noun: spec.noun,
    display: {
      label: `List ${spec.noun}s`,
      description: `Triggers when a ${spec.noun.toLowerCase()} is added; used only to fill dropdowns.`,
      hidden: true,
    },
    operation: { type: 'polling' as const, perform },
  } satisfies Trigger;
}

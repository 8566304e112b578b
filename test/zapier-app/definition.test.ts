/**
 * The publishing rules Zapier checks only on its own servers, and its build guidelines as a reviewer reads
 * them, checked here on the definition itself: labels, descriptions, help text, samples, dropdown and search
 * references, paging, hook completeness, the run key of creates, dates, URLs and the connection. Every rule
 * runs over every step of the definition, so a step added later is held to them too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { version as coreVersion } from 'zapier-platform-core';

import App from '../../zapier-app';
import { API_KEYS_SETTINGS_URL, DEFAULT_API_URL } from '../../zapier-app/config';
import { at, valueAt } from '../support/items';

interface Field {
  key: string;
  label?: string;
  helpText?: string;
  dynamic?: string;
  search?: string;
  type?: string;
  choices?: { value: string; label: string; sample: string }[];
}
interface Operation {
  type?: string;
  inputFields?: unknown[];
  outputFields?: unknown[];
  sample?: Record<string, unknown>;
  perform?: unknown;
  performList?: unknown;
  performSubscribe?: unknown;
  performUnsubscribe?: unknown;
  canPaginate?: boolean;
}
interface Step {
  key: string;
  noun: string;
  display: { label?: string; description?: string; hidden?: boolean };
  operation: Operation;
}

const groups = {
  triggers: Object.values(App.triggers) as Step[],
  creates: Object.values(App.creates) as Step[],
  searches: Object.values(App.searches) as Step[],
};
const allSteps = [...groups.triggers, ...groups.creates, ...groups.searches];
const visibleSteps = allSteps.filter((s) => !s.display.hidden);
const isPlain = (f: unknown): f is Field => typeof f === 'object' && f !== null;
const plainFields = (op: Operation) => (op.inputFields ?? []).filter(isPlain);
const plainOutputFields = (op: Operation) => (op.outputFields ?? []).filter(isPlain);
const allInputFields = allSteps.flatMap((s) => plainFields(s.operation).map((f) => [`${s.key}.${f.key}`, f] as const));

const SMALL_WORDS = new Set([
  'a',
  'an',
  'and',
  'as',
  'at',
  'but',
  'by',
  'for',
  'from',
  'in',
  'nor',
  'of',
  'on',
  'or',
  'the',
  'to',
  'with',
]);

function isTitleCase(label: string): boolean {
  const words = label.split(' ');
  return words.every((word, i) => {
    if (i > 0 && i < words.length - 1 && SMALL_WORDS.has(word)) return true;
    return /^[A-Z0-9#]/.test(word);
  });
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function flatEntries(record: unknown, prefix = ''): [string, unknown][] {
  return Object.entries(record as Record<string, unknown>).flatMap(([key, value]) => {
    const path = prefix ? `${prefix}__${key}` : key;
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? flatEntries(value, path)
      : [[path, value]];
  });
}

describe('the public contract of keys', () => {
  it('has exactly the triggers, creates, searches and find-or-creates of issues 3 and 14', () => {
    expect(Object.keys(App.triggers).sort()).toEqual(
      ['assistant_list', 'conversation_event', 'conversation_list', 'lead_captured', 'ticket_list', 'tag_added'].sort(),
    );
    expect(Object.keys(App.creates).sort()).toEqual(
      [
        'create_or_update_contact',
        'create_ticket',
        'send_message',
        'update_ticket',
        'add_tag_to_contact',
        'remove_tag_from_contact',
        'add_tag_to_conversation',
        'add_note_to_contact',
      ].sort(),
    );
    expect(Object.keys(App.searches)).toEqual(['find_contact', 'find_ticket', 'find_conversation']);
    expect(Object.keys(App.searchOrCreates ?? {})).toEqual(['find_contact', 'find_ticket']);
    expect(App.searchOrCreates.find_ticket).toMatchObject({ search: 'find_ticket', create: 'create_ticket' });
    for (const [key, step] of Object.entries({ ...App.triggers, ...App.creates, ...App.searches }))
      expect(step.key).toBe(key);
    expect(
      allSteps
        .filter((s) => s.display.hidden)
        .map((s) => s.key)
        .sort(),
    ).toEqual(['assistant_list', 'conversation_list', 'ticket_list']);
  });

  it('names the input fields issue 3 lists', () => {
    const keys = (step: Step) => plainFields(step.operation).map((f) => f.key);
    expect(keys(App.triggers.lead_captured as Step)).toEqual(['assistant_id']);
    expect(keys(App.triggers.conversation_event as Step)).toEqual(['event_type', 'assistant_id']);
    expect(keys(App.creates.create_or_update_contact as Step)).toEqual([
      'email',
      'name',
      'phone',
      'company',
      'notes',
      'idempotency_key',
    ]);
    expect(keys(App.creates.create_ticket as Step)).toEqual([
      'subject',
      'description',
      'priority',
      'contact_email',
      'idempotency_key',
    ]);
    expect(keys(App.creates.update_ticket as Step)).toEqual([
      'ticket_id',
      'status',
      'priority',
      'subject',
      'description',
    ]);
    expect(keys(App.creates.send_message as Step)).toEqual(['conversation_id', 'message', 'idempotency_key']);
    expect(keys(App.searches.find_contact as Step)).toEqual(['email']);
    // Issue 14's: new keys only, and Create or Update Contact's static fields stay first (then its attributes).
    expect(keys(App.triggers.tag_added as Step)).toEqual(['tag', 'record_type']);
    expect(keys(App.creates.add_tag_to_contact as Step)).toEqual(['contact_id', 'tag']);
    expect(keys(App.creates.remove_tag_from_contact as Step)).toEqual(['contact_id', 'tag']);
    expect(keys(App.creates.add_tag_to_conversation as Step)).toEqual(['conversation_id', 'tag']);
    expect(keys(App.creates.add_note_to_contact as Step)).toEqual(['contact_id', 'body', 'idempotency_key']);
    expect(keys(App.searches.find_ticket as Step)).toEqual(['ticket']);
    expect(keys(App.searches.find_conversation as Step)).toEqual(['conversation_id', 'visitor_email']);
    expect(App.creates.create_or_update_contact.operation.inputFields?.at(-1)).toEqual(expect.any(Function));
  });

  it('sets the flags the error mapping and the tests rely on', () => {
    expect(App.flags).toEqual({ throwForThrottlingEarly: false, skipHttpPatch: true });
  });

  it('carries package.json’s version on core’s platform version', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));
    expect(App.version).toBe(pkg.version);
    expect(App.platformVersion).toBe(coreVersion);
    expect(pkg.dependencies['zapier-platform-core']).toBe(coreVersion);
  });
});

/** Every description the app shows, with where it comes from. */
const descriptions: [string, string][] = [
  ...allSteps.map((step) => [step.key, step.display.description ?? ''] as [string, string]),
  ...Object.entries(App.searchOrCreates ?? {}).map(
    ([key, pair]) => [`searchOrCreates.${key}`, pair.display.description] as [string, string],
  ),
];
const helpTexts: [string, string][] = [
  ...allInputFields.map(([name, f]) => [name, f.helpText ?? ''] as [string, string]),
  ...(App.authentication?.fields ?? []).map((f) => [`auth.${f.key}`, f.helpText ?? ''] as [string, string]),
];
const words = (text: string) => text.trim().split(/\s+/).length;

describe('what a reviewer reads', () => {
  it('never names the app in a description: Zapier shows the app beside every step', () => {
    expect(descriptions.filter(([, d]) => /illumichat/i.test(d))).toEqual([]);
  });

  it('keeps trigger descriptions to one short sentence starting “Triggers when”', () => {
    for (const trigger of groups.triggers) {
      const description = trigger.display.description ?? '';
      expect({ key: trigger.key, description, opening: /^Triggers when /.test(description) }).toEqual({
        key: trigger.key,
        description,
        opening: true,
      });
      expect({
        key: trigger.key,
        words: words(description) <= 20,
        sentences: description.split(/[.!?](\s|$)/).filter((p) => p?.trim()).length,
      }).toEqual({ key: trigger.key, words: true, sentences: 1 });
    }
  });

  it('uses “a” and “an” as English does, in every description, label and help text', () => {
    const texts = [
      ...descriptions,
      ...helpTexts,
      ...allSteps.map((step) => [step.key, step.display.label ?? ''] as [string, string]),
    ];
    // Words spelt with a vowel but said with a consonant (a one-line, a unique, a user) take “a”.
    const aBeforeVowel = /\ba (?!one\b|one-|once\b|uni|use|eu)[aeiou]/i;
    const anBeforeConsonant = /\ban (?!hour|honest)[b-df-hj-np-tv-z]/i;
    const wrong = texts.filter(([, text]) => aBeforeVowel.test(text) || anBeforeConsonant.test(text));
    expect(wrong).toEqual([]);
    expect([aBeforeVowel.test('Triggers when a assistant is added'), aBeforeVowel.test('a one-line summary')]).toEqual([
      true,
      false,
    ]);
  });

  it('writes every help text as sentences: capitalised, ending with a period, not opening with its label', () => {
    for (const [name, help] of helpTexts) {
      expect({ name, help, ok: /^[A-Z`[]/.test(help) && /[.)]$/.test(help) }).toEqual({ name, help, ok: true });
    }
    for (const [name, field] of allInputFields) {
      const help = (field.helpText ?? '').toLowerCase();
      expect({ name, opensWithLabel: help.startsWith(`${(field.label ?? '').toLowerCase()} `) }).toEqual({
        name,
        opensWithLabel: false,
      });
    }
  });

  it('tells the connection wizard that every key needs events:read, which the connection test uses', () => {
    const field = at(App.authentication?.fields ?? [], 0);
    expect(field.helpText).toMatch(/`events:read`[^.]*connection test/);
  });

  it('offers every create that makes a record an optional Unique Run ID, and says why to map the trigger’s ID', () => {
    const makers = groups.creates.filter((c) => !/^Updates /.test(c.display.description ?? ''));
    expect(makers.length).toBeGreaterThan(0);
    for (const create of makers) {
      const field: (Field & { required?: boolean }) | undefined = plainFields(create.operation).find(
        (f) => f.key === 'idempotency_key',
      );
      expect({ key: create.key, label: field?.label, required: field?.required }).toEqual({
        key: create.key,
        label: 'Unique Run ID',
        required: false,
      });
      expect(field?.helpText).toMatch(/trigger’s ID.*replays/);
    }
    const updates = groups.creates.filter((c) => /^Updates /.test(c.display.description ?? ''));
    for (const update of updates)
      expect(plainFields(update.operation).map((f) => f.key)).not.toContain('idempotency_key');
  });
});

describe('publishing hygiene', () => {
  it('labels every step and input field in Title Case', () => {
    const labels = [
      ...allSteps.map((s) => s.display.label ?? ''),
      ...allInputFields.map(([, f]) => f.label ?? ''),
      ...(App.authentication?.fields ?? []).map((f) => f.label ?? ''),
      ...Object.values(App.searchOrCreates ?? {}).map((pair) => pair.display.label),
    ];
    expect(labels.filter((l) => !isTitleCase(l))).toEqual([]);
    expect(isTitleCase('Create or Update Contact')).toBe(true);
    expect(isTitleCase('Create or update contact')).toBe(false);
  });

  it('starts descriptions as Zapier asks: Triggers when…, Creates…/Updates…, Finds…', () => {
    for (const t of groups.triggers) expect(t.display.description).toMatch(/^Triggers when /);
    for (const c of groups.creates) expect(c.display.description).toMatch(/^(Creates|Updates) /);
    for (const s of groups.searches) expect(s.display.description).toMatch(/^Finds /);
    for (const pair of Object.values(App.searchOrCreates ?? {})) expect(pair.display.description).toMatch(/^Finds /);
    for (const step of allSteps) expect(step.display.description?.endsWith('.')).toBe(true);
  });

  it('gives every input field help text that says more than its label', () => {
    const fields = [...allInputFields, ...(App.authentication?.fields ?? []).map((f) => [`auth.${f.key}`, f] as const)];
    const weak = fields.filter(([, f]) => {
      const help = (f.helpText ?? '').trim().toLowerCase().replace(/\.$/, '');
      return help.length < 20 || help.length > 1000 || help === (f.label ?? '').toLowerCase();
    });
    expect(weak.map(([name]) => name)).toEqual([]);
  });

  it('gives every visible step a static sample, every step a noun, and no two visible steps one label', () => {
    for (const step of visibleSteps) {
      expect(step.operation.sample).toEqual(expect.any(Object));
      expect(Object.keys(step.operation.sample ?? {}).length).toBeGreaterThan(0);
    }
    for (const step of allSteps) expect(step.noun).toMatch(/^[A-Z]/);
    const labels = visibleSteps.map((s) => `${s.display.label}`);
    expect(new Set(labels).size).toBe(labels.length);
  });

  it('pairs every search link with a dynamic dropdown, as Zapier’s schema requires (D014)', () => {
    const searchWithoutDropdown = allInputFields.filter(([, f]) => f.search && !f.dynamic).map(([name]) => name);
    expect(searchWithoutDropdown).toEqual([]);
  });

  it('lets every dropdown page through all its records (canPaginate on every trigger a dynamic field uses)', () => {
    const used = new Set(allInputFields.filter(([, f]) => f.dynamic).map(([, f]) => at(f.dynamic!.split('.'), 0)));
    expect(used.size).toBeGreaterThan(0);
    for (const key of used) {
      const trigger = valueAt(App.triggers as Record<string, Step>, key);
      expect({ key, canPaginate: trigger.operation.canPaginate }).toEqual({ key, canPaginate: true });
    }
  });

  it('points every dynamic dropdown at an existing hidden trigger and every search link at a search field', () => {
    for (const [name, field] of allInputFields) {
      if (field.dynamic) {
        const [triggerKey = '', idKey, labelKey] = field.dynamic.split('.');
        const trigger = (App.triggers as Record<string, Step>)[triggerKey];
        expect({ name, trigger: trigger?.key, hidden: trigger?.display.hidden }).toEqual({
          name,
          trigger: triggerKey,
          hidden: true,
        });
        expect([idKey, labelKey]).toEqual(['id', expect.stringMatching(/^(name|label)$/)]);
      }
      if (field.search) {
        const [searchKey = '', outputKey] = field.search.split('.');
        const search = valueAt(App.searches as Record<string, Step>, searchKey);
        expect(plainOutputFields(search.operation).map((f) => f.key)).toContain(outputKey);
      }
    }
  });

  it('gives static dropdown choices a value, a sample equal to it, and a Title Case label', () => {
    for (const [, field] of allInputFields) {
      for (const choice of field.choices ?? []) {
        expect(choice.sample).toBe(choice.value);
        expect(choice.label).toMatch(/^[A-Z]/);
      }
    }
  });

  it('makes every REST hook trigger complete: perform, performList, performSubscribe, performUnsubscribe', () => {
    const hooks = groups.triggers.filter((t) => t.operation.type === 'hook');
    expect(hooks.map((t) => t.key).sort()).toEqual(['conversation_event', 'lead_captured', 'tag_added']);
    for (const { operation } of hooks) {
      for (const fn of [
        operation.perform,
        operation.performList,
        operation.performSubscribe,
        operation.performUnsubscribe,
      ]) {
        expect(fn).toEqual(expect.any(Function));
      }
    }
  });

  it('writes every date-time of every sample in ISO-8601', () => {
    for (const step of visibleSteps) {
      const datetimeKeys = new Set(
        plainOutputFields(step.operation)
          .filter((f) => f.type === 'datetime')
          .map((f) => f.key),
      );
      for (const [key, value] of flatEntries(step.operation.sample)) {
        if (datetimeKeys.has(key) || /At$/.test(key)) {
          if (value !== null)
            expect({ step: step.key, key, value }).toEqual({
              step: step.key,
              key,
              value: expect.stringMatching(ISO_8601),
            });
        }
      }
    }
  });

  it('uses https for every URL it names', () => {
    const text = JSON.stringify(App, (_, v) => (typeof v === 'function' ? undefined : v));
    expect(text).not.toMatch(/http:\/\//);
    expect(DEFAULT_API_URL).toMatch(/^https:\/\//);
  });

  it('labels the connection and links the key field to where the key is', () => {
    expect(App.authentication?.connectionLabel).toEqual(expect.stringMatching(/{{\s*\w+\s*}}/));
    const field = at(App.authentication?.fields ?? [], 0);
    expect(field.helpText).toContain(`](${API_KEYS_SETTINGS_URL})`);
    expect(API_KEYS_SETTINGS_URL).toMatch(/^https:\/\//);
  });

  it('keeps output field keys unique within each step', () => {
    for (const step of visibleSteps) {
      const keys = plainOutputFields(step.operation).map((f) => f.key);
      expect(new Set(keys).size).toBe(keys.length);
    }
  });
});

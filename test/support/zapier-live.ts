/**
 * The Zapier app driven the way Zapier runs it, against the real partner API: for the end-to-end tests and
 * the demo, so the demo can only show what the tests prove.
 *
 *   const stack = await startLiveStack();              // API on 127.0.0.1:0 + delivery worker + app tester
 *   const zap = stack.connect(key);                    // a Zapier connection made with this key
 *   const on = await zap.turnOn('lead_captured', {}, hookUrl(rx, 'leads'));   // performSubscribe
 *   const [record] = await zap.receive(on, delivery);  // checks the signature, then runs perform
 *   await zap.turnOff(on);                             // performUnsubscribe
 *   await stack.close();
 *
 * Every operation is taken from the app definition (App.triggers.…, App.creates.…), not from the modules'
 * exports, so a wrong key or a missing wiring in zapier-app/index.ts fails here as it would on Zapier.
 * The app reads ILLUMICHAT_API_URL on every request; the stack points it at its server while it runs.
 */
import crypto from 'node:crypto';

import { type Bundle, createAppTester, type ZObject } from 'zapier-platform-core';

import type { SubscribedRecord } from '../../catalog/records';
import App from '../../zapier-app';
import { type ApiServer, startApiServer, type StartOptions, waitUntil } from './api-server';
import { at } from './items';
import type { ReceivedRequest, Receiver } from './receiver';
import { zapierHookRequest } from './zapier-bundle';

export type TriggerKey = 'lead_captured' | 'conversation_event' | 'tag_added';
export type DropdownKey = 'assistant_list' | 'ticket_list' | 'conversation_list';
export type CreateKey =
  | 'create_or_update_contact'
  | 'create_ticket'
  | 'update_ticket'
  | 'send_message'
  | 'add_tag_to_contact'
  | 'remove_tag_from_contact'
  | 'add_tag_to_conversation'
  | 'add_note_to_contact';
export type SearchKey = 'find_contact' | 'find_ticket' | 'find_conversation';
export type JsonRecord = Record<string, any>;

type Perform = (z: ZObject, bundle: Bundle) => unknown;
type FieldsEntry = { key: string } | Perform;

interface HookOperation {
  performSubscribe: Perform;
  performUnsubscribe: Perform;
  perform: Perform;
  performList: Perform;
  outputFields?: FieldsEntry[];
  sample?: JsonRecord;
}

interface ActionOperation {
  perform: Perform;
  outputFields?: FieldsEntry[];
  sample?: JsonRecord;
}

/** A request to a Zap's hook URL: a real delivery, or one a test made up. */
export type HookRequest = Pick<ReceivedRequest, 'method' | 'headers' | 'body'>;

/** A Zap that is on: its trigger, the input it was set up with, and what subscribing returned. */
export interface LiveHook {
  trigger: TriggerKey;
  inputData: Record<string, string>;
  targetUrl: string;
  subscribeData: SubscribedRecord;
}

export const hookOperation = (key: TriggerKey) => App.triggers[key].operation as unknown as HookOperation;
export const createOperation = (key: CreateKey) => App.creates[key].operation as unknown as ActionOperation;
export const searchOperation = (key: SearchKey) => App.searches[key].operation as unknown as ActionOperation;

/** The connection and find-or-create parts the app must define; their absence is a broken app. */
function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the app definition has no ${what}`);
  return value;
}

type Tester = (perform: Perform, bundle: Partial<Bundle>) => Promise<any>;

/** The Zapier side of one connection (one pasted API key). */
export interface Connection {
  authData: { apiKey: string };
  /** Runs any function of the app definition with this connection's authData added to the bundle. */
  run<T = any>(perform: Perform, bundle?: Partial<Bundle>): Promise<T>;
  /** The connection test, as the connection wizard runs it. */
  test(): Promise<JsonRecord>;
  /** The account label Zapier shows: the `connectionLabel` template rendered over the test's result. */
  label(testResult: JsonRecord): string;
  turnOn(trigger: TriggerKey, inputData: Record<string, string>, targetUrl: string): Promise<LiveHook>;
  turnOff(hook: LiveHook): Promise<unknown>;
  /** Test trigger: performList with the Zap's input. */
  testTrigger(trigger: TriggerKey, inputData?: Record<string, string>): Promise<JsonRecord[]>;
  /**
   * What a delivery starts: checks its signature with the subscription's secret (independently of the app),
   * then runs perform on the request as Zapier hands it over (cleanedRequest and rawRequest).
   */
  receive(hook: LiveHook, delivery: ReceivedRequest): Promise<JsonRecord[]>;
  /** Runs perform on any request to the Zap's hook URL, as Zapier would, with no check of ours first. */
  perform(hook: LiveHook, request: HookRequest): Promise<JsonRecord[]>;
  /** The output field keys Zapier shows for the trigger with this input (static and dynamic fields). */
  outputKeys(trigger: TriggerKey, inputData?: Record<string, string>): Promise<string[]>;
  /**
   * A dynamic dropdown's choices, from its hidden trigger, as the Zap editor loads them: page 0 when it
   * opens, then 1, 2, … for each "Load more", sharing one cursor store per dropdown (Zapier's `z.cursor`).
   */
  dropdown(key: DropdownKey, page?: number): Promise<{ id: string; label: string }[]>;
  create<T = JsonRecord>(key: CreateKey, inputData: Record<string, unknown>): Promise<T>;
  search<T = JsonRecord>(key: SearchKey, inputData: Record<string, unknown>): Promise<T[]>;
  /** The input fields Zapier shows for a create: static ones, and those its field functions list. */
  inputKeys(key: CreateKey): Promise<{ key: string; type?: string }[]>;
  /** Zapier's searchOrCreate: the search, and the create with the same input when the search finds nothing. */
  findOrCreate(
    key: 'find_contact' | 'find_ticket',
    inputData: Record<string, unknown>,
  ): Promise<{ found: boolean; record: JsonRecord }>;
}

export interface LiveStack {
  server: ApiServer;
  connect(apiKey: string): Connection;
  close(): Promise<void>;
}

export async function startLiveStack(opts: StartOptions = {}): Promise<LiveStack> {
  const server = await startApiServer({ delivery: true, ...opts });
  const previousUrl = process.env.ILLUMICHAT_API_URL;
  process.env.ILLUMICHAT_API_URL = server.url;
  const tester = createAppTester(App) as unknown as Tester;
  return {
    server,
    connect: (apiKey) => connection(tester, apiKey),
    async close() {
      if (previousUrl === undefined) delete process.env.ILLUMICHAT_API_URL;
      else process.env.ILLUMICHAT_API_URL = previousUrl;
      await server.close();
    },
  };
}

/**
 * Zapier's cursor store for one dropdown (`z.cursor`): what the previous page set. The app tester reaches the
 * real store only over Zapier's RPC, so the live stack hands perform this one instead.
 */
function cursorStore(): ZObject['cursor'] {
  let stored = '';
  return {
    get: () => Promise.resolve(stored),
    set: (cursor: string) => {
      stored = cursor;
      return Promise.resolve(null);
    },
  };
}

function connection(tester: Tester, apiKey: string): Connection {
  const authData = { apiKey };
  const cursors = new Map<DropdownKey, ZObject['cursor']>();
  const run = <T>(perform: Perform, bundle: Partial<Bundle> = {}) =>
    tester(perform, { inputData: {}, ...bundle, authData }) as Promise<T>;

  const self: Connection = {
    authData,
    run,
    test: () => run(required(App.authentication, 'authentication').test as Perform),
    label: (testResult) =>
      renderTemplate(String(required(App.authentication, 'authentication').connectionLabel), testResult),
    async turnOn(trigger, inputData, targetUrl) {
      const subscribeData = await run<SubscribedRecord>(hookOperation(trigger).performSubscribe, {
        inputData,
        targetUrl,
      });
      return { trigger, inputData, targetUrl, subscribeData };
    },
    turnOff: (hook) =>
      run(hookOperation(hook.trigger).performUnsubscribe, {
        inputData: hook.inputData,
        targetUrl: hook.targetUrl,
        subscribeData: hook.subscribeData,
      }),
    testTrigger: (trigger, inputData = {}) => run(hookOperation(trigger).performList, { inputData }),
    async receive(hook, delivery) {
      if (!verifyWebhook(hook.subscribeData.secret, delivery)) {
        throw new Error(
          `delivery ${String(delivery.headers['webhook-id'])} is not signed with the subscription's secret`,
        );
      }
      return self.perform(hook, delivery);
    },
    perform(hook, request) {
      const { cleanedRequest, rawRequest } = zapierHookRequest(request.body.toString('utf8'), request.headers);
      return run(hookOperation(hook.trigger).perform, {
        inputData: hook.inputData,
        targetUrl: hook.targetUrl,
        subscribeData: hook.subscribeData,
        cleanedRequest,
        rawRequest: { ...rawRequest, method: request.method },
      } as Partial<Bundle>);
    },
    async outputKeys(trigger, inputData = {}) {
      const keys: string[] = [];
      for (const entry of hookOperation(trigger).outputFields ?? []) {
        const fields = typeof entry === 'function' ? await run<{ key: string }[]>(entry, { inputData }) : [entry];
        keys.push(...fields.map((f) => f.key));
      }
      return keys.sort();
    },
    dropdown(key, page = 0) {
      const { perform, canPaginate } = App.triggers[key].operation as unknown as {
        perform: Perform;
        canPaginate?: boolean;
      };
      if (page > 0 && !canPaginate) return Promise.resolve([]); // Zapier offers no "Load more" without it
      if (page === 0 || !cursors.has(key)) cursors.set(key, cursorStore());
      const cursor = cursors.get(key)!;
      return run((z, bundle) => perform(Object.assign(z, { cursor }), bundle), {
        meta: { page, limit: -1 },
      } as Partial<Bundle>);
    },
    create: (key, inputData) => run(createOperation(key).perform, { inputData }),
    async inputKeys(key) {
      const fields: { key: string; type?: string }[] = [];
      for (const entry of (createOperation(key) as { inputFields?: unknown[] }).inputFields ?? []) {
        if (typeof entry === 'function')
          fields.push(...(await run<{ key: string; type?: string }[]>(entry as Perform)));
        else fields.push(entry as { key: string; type?: string });
      }
      return fields.map((f) => ({ key: f.key, ...(f.type && { type: f.type }) }));
    },
    search: (key, inputData) => run(searchOperation(key).perform, { inputData }),
    async findOrCreate(key, inputData) {
      const pair = required(App.searchOrCreates?.[key], `searchOrCreates.${key}`);
      const found = await self.search(pair.search, inputData);
      const [first] = found;
      if (first) return { found: true, record: first };
      return { found: false, record: await self.create(pair.create, inputData) };
    },
  };
  return self;
}

/**
 * Standard Webhooks verification, written from the spec rather than taken from partner-api/delivery, so the
 * API's signer is checked by a second, independent reading: HMAC-SHA256 keyed with the base64 bytes after
 * `whsec_`, over `<webhook-id>.<webhook-timestamp>.<body>`, any of the space-separated `v1,<base64>`
 * signatures, and a timestamp within five minutes.
 */
export function verifyWebhook(secret: string, delivery: ReceivedRequest, nowMs = Date.now()): boolean {
  const id = delivery.headers['webhook-id'];
  const timestamp = delivery.headers['webhook-timestamp'];
  const signatures = delivery.headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return false;
  if (!/^\d+$/.test(timestamp) || Math.abs(nowMs / 1000 - Number(timestamp)) > 300) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = crypto
    .createHmac('sha256', key)
    .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`), delivery.body]))
    .digest();
  return signatures.split(' ').some((candidate) => {
    const [version, value] = candidate.split(',');
    const given = Buffer.from(value ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
}

/** A distinct Zapier-like hook URL on the receiver, so one receiver can stand in for many Zaps. */
export function hookUrl(receiver: Receiver, name: string): string {
  return `http://127.0.0.1:${receiver.port}/hooks/standard/${encodeURIComponent(name)}/`;
}

/** The requests the receiver got at this Zap's URL, in arrival order. */
export function deliveriesTo(receiver: Receiver, hook: LiveHook): ReceivedRequest[] {
  const path = new URL(hook.targetUrl).pathname;
  return receiver.requests.filter((r) => r.path === path);
}

export async function waitForDeliveries(
  receiver: Receiver,
  hook: LiveHook,
  n: number,
  timeoutMs = 5000,
): Promise<ReceivedRequest[]> {
  return waitUntil(
    () => {
      const got = deliveriesTo(receiver, hook);
      return got.length >= n && got;
    },
    timeoutMs,
    `${n} deliveries of ${hook.subscribeData.eventType} to ${hook.targetUrl}`,
  );
}

/** The keys Zapier shows for a record: nested objects flattened with `__`, as output field keys are. */
export function flatKeys(record: unknown, prefix = ''): string[] {
  return Object.entries(record as JsonRecord)
    .flatMap(([key, value]) => {
      const path = prefix ? `${prefix}__${key}` : key;
      return value !== null && typeof value === 'object' && !Array.isArray(value) ? flatKeys(value, path) : [path];
    })
    .sort();
}

/** Zapier's `{{field}}` (or `{{bundle.inputData.field}}`) label templates, rendered over the test's result. */
export function renderTemplate(template: string, data: JsonRecord): string {
  return template.replace(/{{\s*([\w.]+)\s*}}/g, (_, path: string) => {
    const value = path
      .replace(/^bundle\.inputData\./, '')
      .split('.')
      .reduce<unknown>((v, k) => (v as JsonRecord | undefined)?.[k], data);
    if (value === undefined || value === null) return '';
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

/**
 * A failed step as Zapier sees it: the error class (which decides reconnect / halt / retry) and the message.
 * Core's Error and ThrottledError carry their fields as JSON in `message`; the other classes carry text
 * followed by a "What happened" trail for the developer.
 */
export async function zapierError(
  promise: Promise<unknown>,
): Promise<{ name: string; message: string; code?: string }> {
  try {
    await promise;
  } catch (error) {
    const { name, message } = error as Error;
    try {
      return { name, ...(JSON.parse(message) as { message: string; code?: string }) };
    } catch {
      return { name, message: at(message.split('\nWhat happened:'), 0) };
    }
  }
  throw new Error('expected the step to fail, and it succeeded');
}

/**
 * The app under test, driven the way Zapier runs it: createAppTester runs the middleware and the error
 * handling around each exported perform function. nock answers for IllumiChat; real network is refused in
 * these files only, and restored for other files after them.
 */
import http from 'node:http';
import https from 'node:https';

import nock from 'nock';
import { type Bundle, createAppTester } from 'zapier-platform-core';

import App from '../../../zapier-app';
import { at } from '../../support/items';
import { zapierHookRequest } from '../../support/zapier-bundle';

/** A made-up origin, so a request that escaped nock could never reach a real IllumiChat. */
export const API_URL = 'https://api.illumichat.test';
export const API_KEY = `wsk_live_${'a1B2c3D4'.repeat(4)}Zx9Qw1`;

export const appTester = createAppTester(App);

export type TestBundle = Parameters<typeof appTester>[1];

export function bundle(overrides: Partial<Bundle> = {}): Partial<Bundle> {
  return { authData: { apiKey: API_KEY }, inputData: {}, ...overrides };
}

/** A bundle for a hook trigger's perform, as Zapier builds it for a request whose JSON body is `record`. */
export function hookBundle(record: unknown, overrides: Partial<Bundle> = {}, query = ''): Partial<Bundle> {
  return bundle({ ...zapierHookRequest(JSON.stringify(record), undefined, query), ...overrides } as Partial<Bundle>);
}

/** Where core sends `z.cursor` calls (its RPC host for https://zapier.com). */
const ZAPIER_RPC = 'https://rpc.zapier.com';

/**
 * Zapier's cursor store (`z.cursor`), answered over core's own RPC protocol: core posts
 * `{id, storeKey, method: 'get_cursor' | 'set_cursor', params}` and expects `{id, result}`. The app tester
 * gives a run a storeKey only when the trigger has `canPaginate`, as Zapier does; without one this store
 * answers an error, so a paging dropdown that forgot the flag fails here as it would on Zapier.
 * Call inside a test; the interceptor is removed after it.
 */
export function useZapierCursorStore(): void {
  process.env.ZAPIER_DEPLOY_KEY ??= 'test-deploy-key';
  const cursors = new Map<string, string>();
  nock(ZAPIER_RPC)
    .persist()
    .post('/cli')
    .reply(200, (_uri, body) => {
      const call = typeof body === 'string' ? JSON.parse(body) : body;
      const { id, storeKey, method, params } = call as {
        id: string;
        storeKey: string | null;
        method: string;
        params: string[];
      };
      if (!storeKey) return { id, error: 'no storeKey: z.cursor needs canPaginate' };
      if (method === 'set_cursor') cursors.set(storeKey, at(params, 0));
      return { id, result: method === 'get_cursor' ? (cursors.get(storeKey) ?? null) : null };
    });
}

export function api(): nock.Scope {
  return nock(API_URL);
}

/** Call once at the top of a test file. */
export function useMockedApi(): void {
  const previousUrl = process.env.ILLUMICHAT_API_URL;
  beforeAll(() => {
    // The app sets flags.skipHttpPatch; an app tester for an app without it wraps node's shared http(s)
    // module for the rest of the process in a way nock cannot see through. Say so rather than fail on DNS.
    for (const mod of [http, https] as { patchedByZapier?: boolean }[]) {
      if (mod.patchedByZapier) {
        throw new Error('An earlier test file let zapier-platform-core patch http(s).request; nock cannot intercept.');
      }
    }
    process.env.ILLUMICHAT_API_URL = API_URL;
    if (!nock.isActive()) nock.activate();
    nock.disableNetConnect();
  });
  afterEach(() => {
    const unused = nock.pendingMocks();
    nock.cleanAll();
    // A mocked request the code never made is a broken expectation, not noise.
    expect(unused).toEqual([]);
  });
  afterAll(() => {
    nock.cleanAll();
    nock.enableNetConnect();
    nock.restore();
    if (previousUrl === undefined) delete process.env.ILLUMICHAT_API_URL;
    else process.env.ILLUMICHAT_API_URL = previousUrl;
  });
}

/**
 * Core's Error and ThrottledError carry their fields as JSON in `message`; the rest carry plain text, to which
 * core appends a "What happened" trail for the developer.
 */
export function errorText(error: unknown): { name: string; message: string; delay?: number; code?: string } {
  const { name, message } = error as Error;
  try {
    const parsed = JSON.parse(message) as { message: string; delay?: number; code?: string };
    return { name, ...parsed };
  } catch {
    return { name, message: at(message.split('\nWhat happened:'), 0) };
  }
}

export async function rejectionOf(promise: Promise<unknown>): Promise<ReturnType<typeof errorText>> {
  try {
    await promise;
  } catch (error) {
    return errorText(error);
  }
  throw new Error('expected the operation to fail, and it succeeded');
}

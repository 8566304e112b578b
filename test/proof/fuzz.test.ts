/**
 * Bad input, property-based: fast-check throws malformed JSON, wrong types, missing and extra fields, huge
 * and odd Unicode strings, wrong content types, bad Idempotency-Keys, bad pagination, odd path parameters
 * and junk credentials at every route the app registers. Whatever comes in:
 *   - no answer is a 5xx, and every answer is JSON;
 *   - an error is in the one documented shape, with a (status, code) pair from docs/api.md's table and a
 *     status the route's OpenAPI operation lists; a success is a 200 or 201 the operation lists;
 *   - a refused request changes nothing stored (every table's rows hashed before and after);
 *   - and at the end, the logs (at debug level, every request logged) hold no API key, agent token or
 *     signing secret, though the fuzz also sends them in bodies, queries and paths.
 */
import fs from 'node:fs';
import path from 'node:path';

import fc from 'fast-check';

import { generateApiKey } from '../../partner-api/domain/credentials';
import openapi from '../../partner-api/openapi.json';
import { api, type ApiServer, startApiServer } from '../support/api-server';
import { at, valueAt } from '../support/items';
import { methodOf, pathOf, ROUTES, routesOf, type RouteSpec, type World } from './support/routes';
import { isErrorShape, snapshot } from './support/state';
import { buildWorld, type FinishedDelivery } from './support/world';

/**
 * One seed for the whole file, printed by a failing check: fast-check prints its own seed when a property
 * fails, but the log check at the end fails after every property passed. `FUZZ_SEED=<n> ./dev npx jest
 * test/proof/fuzz.test.ts` replays the same inputs (the credentials themselves are new each run).
 */
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
fc.configureGlobal({ seed: SEED });

/** Kept small enough for CI (about 1,500 requests in all), large enough to meet every kind of input. */
const RUNS = {
  garbage: 200,
  fields: 300,
  types: 60,
  idempotency: 120,
  query: 200,
  params: 120,
  credentials: 100,
  deep: 120,
};

let server: ApiServer;
let world: World;
let key: string;
let agentToken: string;
let secrets: string[];

/** (status, code) pairs documented in docs/api.md's error table. */
const DOCUMENTED = new Set(
  [
    ...fs.readFileSync(path.join(__dirname, '../../docs/api.md'), 'utf8').matchAll(/^\| (\d{3}) \| `([a-z_]+)` \|/gm),
  ].map((m) => `${m[1]} ${m[2]}`),
);

beforeAll(async () => {
  server = await startApiServer({ config: { log: 'debug' } });
  const built = await buildWorld(server, {
    receiverUrl: 'http://127.0.0.1:9/hook',
    // A delivery the worker (not running here) would have failed: its replay goes to the receiver URL again.
    finishDelivery: async (hookId) => {
      await server.fanOut();
      return (await server.ctx.db.one<FinishedDelivery>(
        `UPDATE deliveries SET status = 'failed', finished_at = created_at WHERE subscription_id = ? RETURNING id, event_id`,
        hookId,
      ))!;
    },
  });
  world = built.world;
  key = built.key;
  agentToken = built.agent.token;
  secrets = [key, agentToken, built.otherAgent.token, built.hook.secret, built.zap.secret];
});
afterAll(async () => await server.close());

// ---------------------------------------------------------------------------------------------------------
// Requests

interface Request {
  route: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array | undefined;
}

let counter = 0;

/** A well-formed request to `route`: the right credential, real ids, a valid body and query. */
function wellFormed(route: string, overrides: { params?: Record<string, string>; query?: string } = {}): Request {
  const spec = valueAt(ROUTES, route);
  const params = Object.fromEntries(
    Object.entries(spec.params ?? {}).map(([name, of]) => [name, encodeURIComponent(of(world))]),
  );
  const query = overrides.query ?? new URLSearchParams(spec.query?.(world) ?? {}).toString();
  const headers: Record<string, string> = { ...credentialFor(spec) };
  let body: string | undefined;
  if (spec.body) {
    body = JSON.stringify(spec.body(world, ++counter));
    headers['content-type'] = 'application/json';
  }
  return {
    route,
    method: methodOf(route),
    path: pathOf(route, { ...params, ...overrides.params }) + (query ? `?${query}` : ''),
    headers,
    body,
  };
}

function credentialFor(spec: RouteSpec): Record<string, string> {
  if (spec.auth === 'key') return { authorization: `Bearer ${key}` };
  if (spec.auth === 'agent') return { authorization: `Bearer ${agentToken}` };
  return {};
}

/** Sends it and checks every invariant; returns the response for property-specific checks. */
async function send(req: Request) {
  const before = await snapshot(server.ctx.db);
  const res = await api(server.url).raw(req.method, req.path, { body: req.body, headers: req.headers });
  const what = `${req.method} ${req.path.slice(0, 200)} → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
  if (res.status >= 500) throw new Error(`5xx: ${what}`);
  if (!(res.headers.get('content-type') ?? '').startsWith('application/json')) throw new Error(`not JSON: ${what}`);
  const responses = operationOf(req.route)?.responses ?? {};
  if (res.status >= 400) {
    if (!isErrorShape(res.body)) throw new Error(`not the error shape: ${what}`);
    const pair = `${res.status} ${res.body.error.code}`;
    if (!DOCUMENTED.has(pair)) throw new Error(`undocumented error ${pair}: ${what}`);
    // An unknown route is a 404 wherever it is; anything else the operation must list.
    if (res.body.error.code !== 'not_found' && !(String(res.status) in responses))
      throw new Error(`status not in the operation: ${what}`);
    const after = await snapshot(server.ctx.db);
    if (JSON.stringify(after) !== JSON.stringify(before))
      throw new Error(`a refused request changed ${diff(before, after)}: ${what}`);
  } else {
    if (![200, 201].includes(res.status) || !(String(res.status) in responses))
      throw new Error(`undocumented success: ${what}`);
    if (typeof res.body !== 'object' || res.body === null) throw new Error(`success without a JSON body: ${what}`);
  }
  return res;
}

function operationOf(route: string): { responses: Record<string, unknown> } | undefined {
  const [method, p] = route.split(' ') as [string, string];
  const item = (openapi.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)[
    p.replace(/:(\w+)/g, '{$1}')
  ];
  return item?.[method.toLowerCase()];
}

function diff(a: Record<string, string>, b: Record<string, string>): string {
  return Object.keys(a)
    .filter((t) => a[t] !== b[t])
    .join(', ');
}

// ---------------------------------------------------------------------------------------------------------
// Arbitraries

const ALL = Object.keys(ROUTES);
const WITH_BODY = ALL.filter((r) => valueAt(ROUTES, r).body);
const KEYED_WRITES = WITH_BODY.filter((r) => valueAt(ROUTES, r).auth === 'key').concat([
  'DELETE /v1/subscriptions',
  'DELETE /v1/subscriptions/:id',
]);
const WITH_QUERY = ALL.filter((r) => methodOf(r) === 'GET' || valueAt(ROUTES, r).query);
const WITH_PARAMS = ALL.filter((r) => valueAt(ROUTES, r).params);
const GUARDED = ALL.filter((r) => valueAt(ROUTES, r).auth !== 'public');

/** Strings that have broken parsers, databases, logs and terminals. The secrets are in here on purpose. */
const oddString = ({ huge = true } = {}) =>
  fc
    .oneof(
      fc.constantFrom(
        '',
        ' ',
        '\u0000',
        'a\u0000b',
        '\ud800',
        '\udfff',
        'x\ud83d',
        '\ud83d\ude00',
        '\u202eevil\u202c',
        '\u200f\u200e\u200b',
        '🧑‍🚀👩🏽‍💻🏳️‍🌈',
        'Z̷̡̛a̸l̶g̵o̴',
        '\ufeff',
        '\uffff',
        '\r\n\t',
        '<script>alert(1)</script>',
        "'; DROP TABLE contacts;--",
        '%00',
        '../../etc/passwd',
        'ａｂｃ@ｅｘａｍｐｌｅ.com',
        'δοκιμή@παράδειγμα.δοκιμή',
        '\\u0000',
        '{"a":1}',
        '1e309',
        '-0',
        'null',
        'true',
        '__proto__',
        'constructor',
        'x'.repeat(1000),
        ...['KEY', 'AGENT', 'SECRET'],
      ),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: 'grapheme', maxLength: 20 }),
      // Up to 600 KB: some over the 256 KiB body limit. Never in a URL or header: past Node's 16 KiB header
      // limit, Node itself answers 431 with no body before the app sees the request.
      huge ? fc.integer({ min: 1, max: 300_000 }).map((n) => 'é'.repeat(n)) : fc.constant('é'.repeat(500)),
    )
    .map(withSecrets);

/** The placeholders become the real credentials, once the world exists. */
function withSecrets(s: string): string {
  if (s === 'KEY') return key;
  if (s === 'AGENT') return agentToken;
  if (s === 'SECRET') return at(secrets, 3);
  return s;
}

const anyValue = () =>
  fc.oneof(fc.jsonValue({ maxDepth: 3 }), oddString(), fc.constantFrom(null, true, 0, -1, 1e308, [], {}));

type Mutation =
  | { kind: 'drop'; field: number }
  | { kind: 'set'; field: number; value: unknown }
  | { kind: 'extra'; name: string; value: unknown }
  | { kind: 'whole'; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), field: fc.nat() }),
  fc.record({ kind: fc.constant('set' as const), field: fc.nat(), value: anyValue() }),
  fc.record({ kind: fc.constant('set' as const), field: fc.nat(), value: oddString() }),
  fc.record({
    kind: fc.constant('extra' as const),
    name: fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'workspace_id', 'id'),
    ),
    value: anyValue(),
  }),
  fc.record({ kind: fc.constant('whole' as const), value: anyValue() }),
);

/**
 * Applies the mutations to a valid body and writes the JSON text by hand, so "__proto__" stays an own key.
 * Also says which keys of the result are not the route's fields (null when the body is not an object).
 */
function mutate(valid: Record<string, unknown>, mutations: Mutation[]): { text: string; unknownKeys: string[] | null } {
  let entries: [string, unknown][] | null = Object.entries(valid);
  let whole: unknown;
  for (const m of mutations) {
    if (m.kind === 'whole') {
      entries = null;
      whole = m.value;
      continue;
    }
    entries ??= [];
    if (m.kind === 'extra') entries.push([m.name, m.value]);
    else if (entries.length > 0) {
      const i = m.field % entries.length;
      if (m.kind === 'drop') entries.splice(i, 1);
      else entries[i] = [at(entries, i)[0], m.value];
    }
  }
  if (entries === null) return { text: JSON.stringify(whole) ?? 'null', unknownKeys: null };
  return {
    text: `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`,
    unknownKeys: entries.map(([k]) => k).filter((k) => !Object.hasOwn(valid, k)),
  };
}

const garbageBody: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.uint8Array({ maxLength: 200 }),
  fc.json().chain((text) => fc.nat({ max: Math.max(0, text.length - 1) }).map((cut) => text.slice(0, cut))), // truncated
  fc.json().map((text) => `${text}}`), // one brace too many
  fc.constantFrom(
    '{',
    '[',
    '{"a":',
    '{"a":1,}',
    "{'a':1}",
    '{"a":1}{"b":2}',
    'null',
    'true',
    '1',
    '"x"',
    '[]',
    '{}',
    '{"__proto__":{"polluted":1}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    '\ufeff{}',
    'NaN',
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":1e999999}',
    `${'['.repeat(50_000)}${']'.repeat(50_000)}`, // deep nesting, under the size limit
    `{"email":"${'\\u0000'.repeat(1000)}"}`,
  ),
  fc.integer({ min: 256 * 1024 - 10, max: 256 * 1024 + 10 }).map((n) => `"${'x'.repeat(n)}"`), // around the limit
);

/** JSON nested `depth` levels: arrays, objects, or the two alternating. */
function nestedJson(depth: number, shape: 'array' | 'object' | 'mixed'): string {
  const opens = Array.from({ length: depth }, (_, i) =>
    shape === 'array' || (shape === 'mixed' && i % 2 === 1) ? '[' : '{"a":',
  );
  const innermost = opens[depth - 1] === '[' ? '' : '1';
  return (
    opens.join('') +
    innermost +
    opens
      .reverse()
      .map((o) => (o === '[' ? ']' : '}'))
      .join('')
  );
}

const contentTypes = fc.constantFrom(
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'text/html',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/jsonx',
  'application/vnd.api+json',
  'json',
  '*/*',
  'application/octet-stream',
  'application/json, text/plain',
);

const idempotencyKey = fc
  .oneof(
    fc.string({
      minLength: 1,
      maxLength: 255,
      unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    }), // valid
    fc.string({ maxLength: 300, unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)) }), // latin-1: mostly not
    fc.integer({ min: 256, max: 8000 }).map((n) => 'k'.repeat(n)), // too long, still within HTTP's header limit
    fc.constantFrom('a\tb', 'é', 'ÿ'.repeat(10), 'KEY'),
  )
  // fetch itself refuses to send an empty value or a DEL character
  .filter((v) => v.replace(/^[ \t]+|[ \t]+$/g, '') !== '' && !v.includes('\x7f'))
  .map(withSecrets);

const limitValue = fc.oneof(
  fc.constantFrom(
    '-1',
    '0',
    '1',
    '100',
    '101',
    '1e9',
    '1e2',
    'abc',
    '1.5',
    '',
    ' 5',
    '0x10',
    'NaN',
    'Infinity',
    '99999999999999999999',
    '٣',
  ),
  fc.integer().map(String),
  fc.string({ maxLength: 10 }),
);

const cursorValue = fc
  .oneof(
    fc.string({ maxLength: 50 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url')),
    fc.tuple(fc.string(), fc.integer()).map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
    fc.integer({ min: 400, max: 2000 }).map((n) => 'A'.repeat(n)),
    fc.constantFrom('KEY', '%00', '%ff', 'W10', 'WyJ4Il0'),
  )
  .map(withSecrets);

/** A query string: the route's valid parameters, some replaced or repeated, plus unknown ones. */
const queryFor = (route: string) =>
  fc
    .record({
      limit: fc.option(limitValue),
      cursor: fc.option(cursorValue),
      repeatLimit: fc.boolean(),
      extra: fc.option(fc.tuple(fc.string({ maxLength: 10 }), oddString({ huge: false }))),
      raw: fc.option(
        fc.constantFrom('%', '%zz', '&&&', '=', 'limit', 'limit=1&limit=2', 'a[b]=c', '%ff%fe', 'email=%00'),
      ),
    })
    .map(({ limit, cursor, repeatLimit, extra, raw }) => {
      const params = new URLSearchParams(valueAt(ROUTES, route).query?.(world) ?? {});
      if (limit !== null) params.set('limit', limit);
      if (cursor !== null) params.set('cursor', cursor);
      if (repeatLimit) params.append('limit', '2');
      if (extra) params.append(extra[0], extra[1]);
      return [params.toString(), raw].filter(Boolean).join('&');
    });

const paramValue = fc
  .oneof(
    fc.string({ maxLength: 30 }).map(encodeURIComponent),
    fc.string({ unit: 'binary', maxLength: 20 }).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, 'x'))),
    fc.integer({ min: 90, max: 400 }).map((n) => 'a'.repeat(n)),
    fc.constantFrom(
      '%00',
      '%ff',
      '%E0%A4%A',
      '..',
      '.',
      '%2F',
      '%2e%2e',
      'tkt_000000000000000000000000',
      'KEY',
      'AGENT',
      'SECRET',
    ),
    // A credential with each character percent-encoded zero, one or two times over, in either hex case.
    fc
      .tuple(
        fc.constantFrom('KEY', 'AGENT', 'SECRET'),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 80, maxLength: 80 }),
        fc.boolean(),
      )
      .map(([which, plan, upper]) =>
        [...withSecrets(which)].map((c, i) => percentEncoded(c, at(plan, i), upper)).join(''),
      ),
  )
  .map(withSecrets);

function percentEncoded(c: string, times: number, upper: boolean): string {
  let out = c;
  for (let i = 0; i < times; i++)
    out = [...Buffer.from(out)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  return upper ? out.toUpperCase() : out;
}

/** Percent-decoded until nothing more decodes, as someone reading the logs could. */
function fullyDecoded(text: string): string {
  for (;;) {
    const next = text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) =>
      Buffer.from(run.replace(/%/g, ''), 'hex').toString('latin1'),
    );
    if (next === text) return text;
    text = next;
  }
}

const authorization = fc.oneof(
  fc.string({ maxLength: 60, unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
  fc.constantFrom(
    'Bearer',
    'Bearer ',
    'Basic Zm9vOmJhcg==',
    'bearer wsk_live_',
    'Bearer agt_tok_',
    'Bearer wsk_live_' + 'A'.repeat(38),
  ),
  fc.constant(`Bearer ${generateApiKey()}`), // well-formed, unknown
  fc.string({ minLength: 1, maxLength: 60 }).map((s) => `Bearer wsk_live_${s.replace(/[^\x21-\x7e]/g, 'x')}`),
);

// ---------------------------------------------------------------------------------------------------------
// Properties

describe('every route', () => {
  it('has an entry in the fuzz catalogue, and every entry is a route', () => {
    expect(routesOf(server.app)).toEqual(Object.keys(ROUTES).sort());
  });

  it('answers its well-formed request with a documented success', async () => {
    for (const route of ALL) {
      const res = await send(wellFormed(route));
      expect({ route, status: res.status < 300 }).toEqual({ route, status: true });
    }
  });
});

describe('fuzzing', () => {
  it('malformed and random bodies', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...WITH_BODY), garbageBody, async (route, body) => {
        await send({ ...wellFormed(route), body });
      }),
      { numRuns: RUNS.garbage },
    );
  });

  it('wrong types, missing and extra fields, huge and odd Unicode strings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...WITH_BODY),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        async (route, mutations) => {
          const req = wellFormed(route);
          const valid = valueAt(ROUTES, route).body!(world, ++counter);
          const { text, unknownKeys } = mutate(valid, mutations);
          const res = await send({ ...req, body: text });
          // A field that is not the route's is always refused, and named (unless a bigger problem came first).
          if (unknownKeys && unknownKeys.length > 0) {
            expect(res.status).toBeGreaterThanOrEqual(400);
            if (res.status === 422 && res.body.error.code === 'validation_failed') {
              const paths = (res.body.error.details ?? []).map((d: { path: string }) => d.path);
              expect(unknownKeys.every((k) => paths.includes(k))).toBe(true);
            }
          }
        },
      ),
      { numRuns: RUNS.fields },
    );
  });

  it('wrong content types', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...WITH_BODY), contentTypes, async (route, type) => {
        const req = wellFormed(route);
        const res = await send({ ...req, headers: { ...req.headers, 'content-type': type } });
        // JSON is application/json or application/*+json, in a UTF charset; anything else is refused unread.
        const json = /^application\/([\w.-]+\+)?json(;\s*charset=utf-(8|16|32))?$/i.test(type);
        if (!json) expect(res.status).toBe(415);
      }),
      { numRuns: RUNS.types },
    );
  });

  it('bad and huge Idempotency-Keys', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...KEYED_WRITES), idempotencyKey, fc.boolean(), async (route, value, legacy) => {
        const req = wellFormed(route);
        const res = await send({
          ...req,
          headers: { ...req.headers, [legacy ? 'x-idempotency-key' : 'idempotency-key']: value },
        });
        // HTTP drops the spaces and tabs around a header value before the API sees it.
        const valid = /^[\x20-\x7e]{1,255}$/.test(value.replace(/^[ \t]+|[ \t]+$/g, ''));
        if (!valid) {
          expect(res.status).toBe(422);
          expect(res.body.error.details).toEqual([{ path: 'Idempotency-Key', message: expect.any(String) }]);
        }
      }),
      { numRuns: RUNS.idempotency },
    );
  });

  it('bad pagination and query parameters', async () => {
    const arb = fc.constantFrom(...WITH_QUERY).chain((route) => fc.tuple(fc.constant(route), queryFor(route)));
    await fc.assert(
      fc.asyncProperty(arb, async ([route, query]) => {
        await send(wellFormed(route, { query }));
      }),
      { numRuns: RUNS.query },
    );
  });

  it('odd path parameters', async () => {
    const arb = fc
      .constantFrom(...WITH_PARAMS)
      .chain((route) =>
        fc.tuple(
          fc.constant(route),
          fc.dictionary(fc.constantFrom(...Object.keys(valueAt(ROUTES, route).params!)), paramValue, { minKeys: 1 }),
        ),
      );
    await fc.assert(
      fc.asyncProperty(arb, async ([route, params]) => {
        await send(wellFormed(route, { params }));
      }),
      { numRuns: RUNS.params },
    );
  });

  it('deeply nested bodies, with and without an Idempotency-Key: 400 body_too_deep past 32 levels, never a 5xx', async () => {
    const arb = fc.record({
      route: fc.constantFrom(...WITH_BODY),
      depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 33, max: 40_000 })),
      shape: fc.constantFrom('array', 'object', 'mixed'),
      // Inside a valid body's own field, or the whole body.
      inField: fc.boolean(),
      idempotencyKey: fc.option(fc.uuid()),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ route, depth, shape, inField, idempotencyKey }) => {
        const inner = nestedJson(depth, shape);
        const valid = valueAt(ROUTES, route).body!(world, ++counter);
        const field = Object.keys(valid)[0];
        const text = inField && field ? JSON.stringify({ ...valid, [field]: null }).replace('null', inner) : inner;
        const req = wellFormed(route);
        const headers = idempotencyKey ? { ...req.headers, 'idempotency-key': idempotencyKey } : req.headers;
        const res = await send({ ...req, body: text, headers });
        const total = inField && field ? depth + 1 : depth;
        if (total > 32)
          expect({ total, status: res.status, code: res.body.error?.code }).toEqual({
            total,
            status: 400,
            code: 'body_too_deep',
          });
        else expect(res.body.error?.code).not.toBe('body_too_deep');
      }),
      { numRuns: RUNS.deep },
    );
  });

  it('the reported body: 6 KB nested 3,000 levels with an Idempotency-Key is 400 body_too_deep, not a stack overflow', async () => {
    const body = nestedJson(3000, 'array');
    expect(body.length).toBe(6000);
    for (const route of KEYED_WRITES.filter((r) => valueAt(ROUTES, r).body)) {
      for (const headers of [{ 'idempotency-key': `deep-${route}` }, {} as Record<string, string>]) {
        const req = wellFormed(route);
        const res = await send({ ...req, body, headers: { ...req.headers, ...headers } });
        expect({ route, status: res.status, code: res.body.error.code }).toEqual({
          route,
          status: 400,
          code: 'body_too_deep',
        });
      }
    }
  });

  it('junk credentials', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...GUARDED), authorization, async (route, value) => {
        const req = wellFormed(route);
        const res = await send({ ...req, headers: { ...req.headers, authorization: value } });
        expect(res.status).toBe(401);
      }),
      { numRuns: RUNS.credentials },
    );
  });
});

describe('after all of it', () => {
  it('the logs hold no API key, agent token or signing secret, whole or in part, even percent-decoded', () => {
    // Debug level logs every request that gets past the body parser: most of the fuzz's.
    expect(server.logs.filter((l) => l.message === 'request').length).toBeGreaterThan(RUNS.fields);
    for (const secret of secrets) {
      const part = secret.replace(/^(wsk_live_|agt_tok_|whsec_)/, '').slice(0, 24);
      const leaks = server.logs
        .filter((l) => fullyDecoded(JSON.stringify(l)).includes(part))
        .map((l) => JSON.stringify(l).slice(0, 300));
      expect({ seed: SEED, secret: secret.slice(0, 12), leaks }).toEqual({
        seed: SEED,
        secret: secret.slice(0, 12),
        leaks: [],
      });
    }
  });
});

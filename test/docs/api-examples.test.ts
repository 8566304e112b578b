/**
 * Keeps docs/api.md honest against partner-api/openapi.json (which test/api/openapi.test.ts holds to the
 * routes): every response example there parses against the OpenAPI schema of its route and status.
 *  - A ```json block is an example of the response named on the line just before it, as
 *    "`POST /v1/widget/conversations/:id/lead` → 201"; a block without one fails, so none goes unchecked.
 *  - A shorthand answer on a line that names its route, "`DELETE /v1/subscriptions/:id` … → 200 `{ id, active: false }`",
 *    may only name fields the schema has, and a literal value given must be valid for its field.
 * Schemas are checked with zod's fromJSONSchema (OpenAPI 3.1 schemas are JSON Schema 2020-12).
 */
import fs from 'node:fs';
import path from 'node:path';

import { z } from 'zod';

import { at } from '../support/items';

const DOC_PATH = path.join(__dirname, '../../docs/api.md');
const doc = JSON.parse(fs.readFileSync(path.join(__dirname, '../../partner-api/openapi.json'), 'utf8'));
const markdown = fs.readFileSync(DOC_PATH, 'utf8');
const lines = markdown.split('\n');

const ROUTE = /`(GET|POST|PATCH|PUT|DELETE) (\/[^`\s]*)`/;

function resolve(node: any): any {
  let current = node;
  while (current && typeof current.$ref === 'string') {
    current = current.$ref
      .slice(2)
      .split('/')
      .reduce((at: any, key: string) => at?.[key], doc);
  }
  return current;
}

/** The JSON Schema of a documented response, or a message saying why there is none. */
function responseSchema(method: string, docPath: string, status: string): any {
  // A query string in the table (`?target_url=…`) is a parameter of the path's operation, not its path.
  const openapiPath = at(docPath.split('?'), 0).replace(/:(\w+)/g, '{$1}');
  const operation = doc.paths[openapiPath]?.[method.toLowerCase()];
  if (!operation) throw new Error(`docs/api.md names ${method} ${docPath}, which openapi.json does not document`);
  const response = resolve(operation.responses[status]);
  if (!response) throw new Error(`openapi.json has no ${status} response for ${method} ${docPath}`);
  const schema = response.content?.['application/json']?.schema;
  if (!schema) throw new Error(`openapi.json's ${status} response for ${method} ${docPath} has no JSON body`);
  return schema;
}

/** A zod schema for a JSON Schema of openapi.json, its component $refs turned into $defs. */
function toZod(schema: unknown): z.ZodType {
  const text = JSON.stringify(schema).replaceAll('#/components/schemas/', '#/$defs/');
  return z.fromJSONSchema({
    ...JSON.parse(text),
    $defs: JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('#/components/schemas/', '#/$defs/')),
  });
}

interface Example {
  line: number;
  label: string;
  json: string;
}

function jsonExamples(): Example[] {
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (at(lines, i).trim() !== '```json') continue;
    const end = lines.indexOf('```', i + 1);
    examples.push({ line: i + 1, label: lines[i - 1] ?? '', json: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return examples;
}

it('docs/api.md has response examples, and each names its route and status', () => {
  const examples = jsonExamples();
  expect(examples.length).toBeGreaterThanOrEqual(2);
  for (const { line, label } of examples) {
    expect({ line, label }).toEqual({
      line,
      label: expect.stringMatching(/^`(GET|POST|PATCH|PUT|DELETE) \/\S*` → \d{3}\b/),
    });
  }
});

it.each(jsonExamples().map((e) => [`line ${e.line}: ${e.label}`, e] as const))(
  'the example at %s parses against its OpenAPI schema',
  (_name, example) => {
    const route = ROUTE.exec(example.label)!;
    const [method, docPath] = [at(route, 1), at(route, 2)];
    const status = at(/→ (\d{3})/.exec(example.label)!, 1);
    const result = toZod(responseSchema(method, docPath, status)).safeParse(JSON.parse(example.json));
    expect({ line: example.line, issues: result.error?.issues ?? [] }).toEqual({ line: example.line, issues: [] });
  },
);

/** `{ id, active: false }` → [['id'], ['active', false]] */
function shorthandFields(body: string): [string, unknown?][] {
  return body.split(',').map((part) => {
    const [name = '', value] = part.split(':').map((s) => s.trim());
    return value === undefined ? [name] : [name, JSON.parse(value)];
  });
}

const shorthands = lines.flatMap((text, i) => {
  const route = ROUTE.exec(text);
  const answer = /→ (\d{3}) `\{ ([^`]+) \}`/.exec(text);
  return route && answer
    ? [
        {
          line: i + 1,
          method: at(route, 1),
          docPath: at(route, 2),
          status: at(answer, 1),
          fields: shorthandFields(at(answer, 2)),
        },
      ]
    : [];
});

it('finds the shorthand answers in the route tables', () => {
  expect(shorthands.length).toBeGreaterThanOrEqual(3);
});

it.each(shorthands.map((s) => [`line ${s.line}: ${s.method} ${s.docPath} → ${s.status}`, s] as const))(
  'the shorthand answer at %s names only fields its schema has',
  (_name, { line, method, docPath, status, fields }) => {
    const schema = resolve(responseSchema(method, docPath, status));
    const properties: Record<string, unknown> = schema.properties ?? {};
    for (const [name, ...value] of fields) {
      expect({ line, field: name, documented: name in properties }).toEqual({ line, field: name, documented: true });
      if (value.length)
        expect({ line, field: name, valid: toZod(properties[name]).safeParse(value[0]).success }).toEqual({
          line,
          field: name,
          valid: true,
        });
    }
  },
);

/** Liveness, the contract, and the connection test with the trigger's assistant dropdown. */
import fs from 'node:fs';
import path from 'node:path';

import { listAssistants } from '../domain/workspaces';
import { keyOf } from './auth';
import type { RouteBuilders } from './route-builders';

export const OPENAPI_PATH = path.join(__dirname, '..', 'openapi.json');

export function registerMetaRoutes({ app, ctx, keyed }: RouteBuilders): void {
  // Read once: the document is part of the build, not something that changes while serving.
  const openapi = JSON.parse(fs.readFileSync(OPENAPI_PATH, 'utf8')) as unknown;

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  /** Zapier's connection test; its label is the workspace name. */
  app.get('/v1/me', ...keyed('events:read'), (req, res) => {
    const key = keyOf(req);
    res.json({
      id: key.workspace.id,
      name: key.workspace.name,
      plan: key.workspace.plan,
      key: { id: key.keyId, prefix: key.prefix, scopes: key.scopes },
    });
  });

  app.get('/v1/assistants', ...keyed('events:read'), async (req, res) => {
    res.json({ data: await listAssistants(ctx, keyOf(req).workspace.id) });
  });
}

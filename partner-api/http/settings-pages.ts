/**
 * The workspace settings pages (issue 11; docs/settings.md): Settings → API Keys, Connected Zaps, Delivery
 * log and Workspace, the landing page at `/`, and sign-in with a one-time link. Server-rendered HTML forms
 * that work without JavaScript; the one script is the copy button (assets/copy.js).
 *
 * Safe with hostile content (§4): receivers' response excerpts, visitors' names in event payloads and key
 * names are rendered only through Eta templates with autoEscape on (every `<%= %>` is HTML-escaped; the
 * views use no raw output but the layout's body), and every answer carries a Content-Security-Policy with
 * `script-src 'self'` and no inline script, `frame-ancestors 'none'` and X-Frame-Options DENY.
 *
 * Who may open them (§1): a session cookie (HttpOnly, SameSite=Strict, Secure over https, 8 hours), started
 * by a sign-in link; API keys and agent tokens open nothing here, and the session opens nothing under /v1.
 * Every state-changing form carries the session's synchronizer token (CSRF), checked before anything runs.
 *
 * Mounted before the JSON body parser (app.ts): forms are application/x-www-form-urlencoded.
 */
import path from 'node:path';

import { parseCookie } from 'cookie';
import { Eta } from 'eta';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';

import { EVENT_TYPES, eventLabel, type EventType } from '../../catalog/events';
import type { DeactivationReason } from '../../catalog/records';
import { SCOPE_USES } from '../../catalog/scopes';
import type { AppContext } from '../context';
import { isStorageFault } from '../db/faults';
import { BULK_REPLAY_MAX, replayDelivery, replayFailedSince } from '../delivery/replay';
import { activeZapsByKey, createApiKey, findApiKey, listApiKeys, revokeApiKey } from '../domain/api-keys';
import { SCOPES } from '../domain/credentials';
import { DELIVERY_STATUSES, findDelivery, findEvent, lastDeliveryOf, listDeliveries } from '../domain/deliveries';
import { ApiError } from '../domain/errors';
import { hasIntegration } from '../domain/plans';
import {
  csrfTokenMatches,
  endSession,
  findSession,
  peekSignInLink,
  type Session,
  SESSION_TTL_MS,
  SettingsAccessError,
  signIn,
} from '../domain/sessions';
import { findConnectedZap, listConnectedZaps } from '../domain/subscriptions';
import { PLAN_UPGRADE_MESSAGE } from './auth';
import { redactFields } from './redact';
import { idField, optionalEnum, optionalLine, optionalText, parseWith } from './validate';

export const SESSION_COOKIE = 'illumichat_session';

const VIEWS = path.join(__dirname, '..', 'settings', 'views');
const ASSETS = path.join(__dirname, '..', 'settings', 'assets');

/** What each scope is needed for: catalog/scopes.ts, the same words the Zapier app's connection wizard shows. */
export const SCOPE_NEEDED_FOR: Record<(typeof SCOPES)[number], string> = SCOPE_USES;

const DEACTIVATION_WORDS: Record<DeactivationReason, string> = {
  unsubscribed: 'Turned off in Zapier',
  key_revoked: 'Its API key was revoked',
  gone: 'The hook answered 410 Gone',
  failing: 'Deliveries kept failing',
  replaced: 'Replaced by a newer subscribe to the same hook',
};

/** Characters of a response excerpt the delivery log's list shows. */
const EXCERPT_IN_LIST = 160;

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  // A sign-in link's token is in its URL: no Referer carries it anywhere.
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** "2026-01-15 09:00:00 UTC" for an ISO time (the views show "—" where there is none). */
function formatTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** The hook URL as the page shows it: scheme and host; the path (Zapier's hook id, a credential) masked. */
export function maskedTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}/…`;
  } catch {
    return '(not a valid URL)';
  }
}

const helpers = {
  time: formatTime,
  label: eventLabel,
  masked: maskedTarget,
  /** The log's list shows the start of a response; the delivery's page shows all of what was kept (4 KiB). */
  excerpt: (text: string) => (text.length > EXCERPT_IN_LIST ? `${text.slice(0, EXCERPT_IN_LIST)}…` : text),
};

const createKeyForm = z.object({
  name: optionalLine(100).pipe(z.string({ error: 'Give the key a name.' })),
  scopes: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
    .pipe(z.array(z.enum(SCOPES)).min(1, 'Choose at least one scope.')),
});

const logQuery = z.object({
  // Blank is no filter: the filter form's "Any".
  status: optionalEnum(DELIVERY_STATUSES),
  subscription: optionalText(100),
  event_type: optionalEnum(EVENT_TYPES as [EventType, ...EventType[]]),
  cursor: z.string().max(500).optional(),
});

/**
 * datetime-local ("2026-01-15T09:00", read as UTC) or a full ISO-8601 time. Only real calendar days and
 * clock times: `new Date()` would quietly read 2026-02-30 as 2026-03-02 and T24:00 as the next day, replaying
 * from a moment nobody chose. The day is checked as POST /v1/subscriptions/{id}/replay checks it (zod's ISO date).
 */
const replaySinceForm = z.object({
  since: z
    .string()
    .trim()
    .regex(
      /^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,3})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$/,
      'Give a date and time.',
    )
    .refine((v) => z.iso.date().safeParse(v.slice(0, 10)).success, 'Give a day that is in the calendar.')
    .transform((v) => new Date(/Z|[+-]\d{2}:\d{2}$/.test(v) ? v : `${v}Z`))
    .refine((d) => !Number.isNaN(d.getTime()), 'Give a real date and time.'),
});

/**
 * What a bulk replay reports to the Connected Zaps page: its counts, carried in the redirect's query and put
 * into words here, so the page never shows text a link brought (a crafted `?replayed=…` would otherwise be a
 * message on a trusted page). Counts that are not whole numbers or do not add up are no summary at all.
 */
const bulkReplaySummary = z
  .object({
    replayed: z
      .string()
      .regex(/^\d{1,4}$/)
      .transform(Number),
    succeeded: z
      .string()
      .regex(/^\d{1,4}$/)
      .transform(Number),
    failed: z
      .string()
      .regex(/^\d{1,4}$/)
      .transform(Number),
    more: z.literal('1').optional(),
  })
  .refine((r) => r.succeeded + r.failed === r.replayed && r.replayed <= BULK_REPLAY_MAX);

function bulkReplayWords(query: unknown): string | null {
  const parsed = bulkReplaySummary.safeParse(query);
  if (!parsed.success) return null;
  const { replayed, succeeded, failed, more } = parsed.data;
  return replayed === 0
    ? 'No failed deliveries of this Zap since then.'
    : `Replayed ${replayed} failed deliver${replayed === 1 ? 'y' : 'ies'}: ${succeeded} succeeded, ${failed} failed.${more ? ' More are left: replay again.' : ''}`;
}

declare module 'express-serve-static-core' {
  interface Request {
    session?: Session;
  }
}

export function settingsPages(ctx: AppContext): Router {
  const eta = new Eta({ views: VIEWS, autoEscape: true, cache: true });
  const router = express.Router();

  function render(res: Response, view: string, data: Record<string, unknown>, status = 200): void {
    const session = res.req.session;
    res
      .status(status)
      .type('html')
      .send(
        eta.render(view, {
          ...helpers,
          session: session ?? null,
          csrf: session?.csrfToken ?? '',
          notice: null,
          ...data,
        }),
      );
  }

  // Every route that calls this is behind requireSession, which sets it or answers 401.
  const sessionOf = (req: Request): Session => req.session!;
  const sessionCookie = (req: Request): string | undefined => parseCookie(req.get('cookie') ?? '')[SESSION_COOKIE];

  router.use((_req, res, next) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    next();
  });
  router.use('/settings/assets', express.static(ASSETS, { index: false, fallthrough: false, maxAge: 0 }));

  const forms = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });
  /** POSTs here are forms: anything else is refused before it is read. */
  const formBody = (req: Request, res: Response, next: NextFunction) => {
    // Defence in depth beside the CSRF token and SameSite: a browser marks a form posted from another site
    // (Fetch Metadata), which also covers the sign-in form, whose proof is the link's token, not a session.
    if (req.get('sec-fetch-site') === 'cross-site') {
      render(res, 'message', { title: 'Form refused', message: 'Forms are accepted only from these pages.' }, 403);
      return;
    }
    if (req.get('content-length') !== '0' && req.is('application/x-www-form-urlencoded') === false) {
      render(res, 'message', { title: 'Unsupported form', message: 'Send this form from the page.' }, 415);
      return;
    }
    forms(req, res, (err?: unknown) => {
      if (err) {
        render(res, 'message', { title: 'Form refused', message: 'The form could not be read.' }, 400);
        return;
      }
      req.body ??= {};
      next();
    });
  };

  /** A signed-in owner or admin of the workspace; else the sign-in explanation (401) or 403. */
  const requireSession = async (req: Request, res: Response, next: NextFunction) => {
    const id = sessionCookie(req);
    const session = id ? await findSession(ctx, id) : null;
    if (!session) {
      render(res, 'signed-out', { title: 'Sign in to Settings' }, 401);
      return;
    }
    req.session = session;
    next();
  };

  /** Every state-changing form: the session's synchronizer token, checked before anything else runs. */
  const requireCsrf = (req: Request, res: Response, next: NextFunction) => {
    if (!csrfTokenMatches(sessionOf(req), (req.body as Record<string, unknown>)._csrf)) {
      render(
        res,
        'message',
        {
          title: 'Form expired',
          message: 'This form is not from your current session. Reload the page and try again.',
        },
        403,
      );
      return;
    }
    next();
  };

  router.get('/', (_req, res) => render(res, 'landing', { title: 'IllumiChat for Zapier' }));

  router.get('/sign-in', async (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    const agent = await peekSignInLink(ctx, token);
    render(res, 'sign-in', { title: 'Sign in', token, agent });
  });

  router.post('/sign-in', formBody, async (req, res) => {
    const given = (req.body as Record<string, unknown>).token;
    const token = typeof given === 'string' ? given : '';
    const { sessionId } = await signIn(ctx, token);
    res.cookie(SESSION_COOKIE, sessionId, {
      httpOnly: true,
      sameSite: 'strict',
      secure: req.secure,
      maxAge: SESSION_TTL_MS,
      path: '/',
    });
    res.redirect(303, '/settings/keys');
  });

  router.post('/sign-out', requireSession, formBody, requireCsrf, async (req, res) => {
    await endSession(ctx, sessionCookie(req)!); // requireSession found it
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/' });
    res.redirect(303, '/');
  });

  router.use('/settings', requireSession);

  router.get('/settings', (_req, res) => res.redirect(303, '/settings/keys'));

  async function renderKeys(
    req: Request,
    res: Response,
    extra: Record<string, unknown>,
    status: number,
  ): Promise<void> {
    const workspaceId = sessionOf(req).workspace.id;
    const zaps = await activeZapsByKey(ctx, workspaceId);
    const keys = (await listApiKeys(ctx, workspaceId)).reverse().map((k) => ({ ...k, zaps: zaps.get(k.id) ?? 0 }));
    render(
      res,
      'keys',
      {
        title: 'API Keys',
        tab: 'keys',
        keys,
        scopes: SCOPES,
        neededFor: SCOPE_NEEDED_FOR,
        form: {},
        errors: {},
        ...extra,
      },
      status,
    );
  }

  router.get('/settings/keys', async (req, res) => {
    const revoked = typeof req.query.revoked === 'string' ? await findApiKey(ctx, req.query.revoked) : null;
    const notice =
      revoked && revoked.workspaceId === sessionOf(req).workspace.id && revoked.revokedAt
        ? `Revoked “${revoked.name}”. Zaps that used it are disconnected.`
        : null;
    await renderKeys(req, res, { notice }, 200);
  });

  router.post('/settings/keys', formBody, requireCsrf, async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const parsed = createKeyForm.safeParse(body);
    if (!parsed.success) {
      const errors: Record<string, string> = {};
      for (const issue of parsed.error.issues) errors[String(issue.path[0])] ??= issue.message;
      await renderKeys(
        req,
        res,
        { form: { name: typeof body.name === 'string' ? body.name : '', scopes: [body.scopes].flat() }, errors },
        422,
      );
      return;
    }
    const created = await createApiKey(ctx, {
      workspaceId: sessionOf(req).workspace.id,
      name: parsed.data.name,
      scopes: parsed.data.scopes,
    });
    render(res, 'key-created', { title: 'API key created', tab: 'keys', created }, 201);
  });

  /** The workspace's key, or 404: another workspace's key is as unknown as a made-up id. */
  async function ownKey(req: Request) {
    const { id } = parseWith(z.object({ id: idField }), req.params);
    const key = await findApiKey(ctx, id);
    if (!key || key.workspaceId !== sessionOf(req).workspace.id)
      throw new ApiError(404, 'not_found', 'No such API key.');
    return key;
  }

  router.get('/settings/keys/:id/revoke', async (req, res) => {
    const key = await ownKey(req);
    const zaps = (await activeZapsByKey(ctx, key.workspaceId)).get(key.id) ?? 0;
    render(res, 'revoke', { title: 'Revoke API key', tab: 'keys', key, zaps });
  });

  router.post('/settings/keys/:id/revoke', formBody, requireCsrf, async (req, res) => {
    const key = await ownKey(req);
    await revokeApiKey(ctx, key.id);
    res.redirect(303, `/settings/keys?revoked=${encodeURIComponent(key.id)}`);
  });

  router.get('/settings/zaps', async (req, res) => {
    const workspaceId = sessionOf(req).workspace.id;
    const cursor = typeof req.query.cursor === 'string' ? req.query.cursor : undefined;
    const page = await listConnectedZaps(ctx, workspaceId, { limit: 50, cursor });
    const keys = new Map((await listApiKeys(ctx, workspaceId)).map((k) => [k.id, k]));
    const zaps = await Promise.all(
      page.data.map(async (zap) => ({
        ...zap,
        key: keys.get(zap.apiKeyId)!, // keys are revoked, never deleted
        last: await lastDeliveryOf(ctx, zap.id),
        reason: zap.deactivatedReason ? DEACTIVATION_WORDS[zap.deactivatedReason] : null,
      })),
    );
    const dayAgo = new Date(ctx.clock.now() - 24 * 60 * 60_000).toISOString().slice(0, 16);
    const notice = bulkReplayWords(req.query);
    render(res, 'zaps', {
      title: 'Connected Zaps',
      tab: 'zaps',
      zaps,
      nextCursor: page.nextCursor,
      dayAgo,
      bulkMax: BULK_REPLAY_MAX,
      notice,
    });
  });

  router.post('/settings/zaps/:id/replay', formBody, requireCsrf, async (req, res) => {
    const { id } = parseWith(z.object({ id: idField }), req.params);
    const { since } = parseWith(replaySinceForm, req.body);
    const commit = await replayFailedSince(ctx, sessionOf(req).workspace.id, id, since.toISOString());
    const { replayed, succeeded, failed, more } = await commit(ctx);
    const summary = new URLSearchParams({ replayed: `${replayed}`, succeeded: `${succeeded}`, failed: `${failed}` });
    if (more) summary.set('more', '1');
    res.redirect(303, `/settings/zaps?${summary.toString()}`);
  });

  router.get('/settings/deliveries', async (req, res) => {
    const workspaceId = sessionOf(req).workspace.id;
    const filters = parseWith(logQuery, req.query);
    const page = await listDeliveries(ctx, workspaceId, {
      limit: 25,
      cursor: filters.cursor,
      status: filters.status,
      subscriptionId: filters.subscription,
      eventType: filters.event_type,
    });
    const subscriptions = (await listConnectedZaps(ctx, workspaceId, { limit: 100 })).data;
    // The Zap filter may be older than the 100 newest (a Connected Zaps link): the form shows what the list applies.
    const chosen = filters.subscription;
    if (chosen && !subscriptions.some((s) => s.id === chosen)) {
      const zap = await findConnectedZap(ctx, workspaceId, chosen);
      if (zap) subscriptions.push(zap);
    }
    const keep = new URLSearchParams();
    if (filters.status) keep.set('status', filters.status);
    if (filters.subscription) keep.set('subscription', filters.subscription);
    if (filters.event_type) keep.set('event_type', filters.event_type);
    if (page.nextCursor) keep.set('cursor', page.nextCursor);
    render(res, 'deliveries', {
      title: 'Delivery log',
      tab: 'deliveries',
      deliveries: page.data,
      filters,
      statuses: DELIVERY_STATUSES,
      eventTypes: EVENT_TYPES,
      subscriptions,
      nextHref: page.nextCursor ? `/settings/deliveries?${keep.toString()}` : null,
    });
  });

  router.get('/settings/deliveries/:id', async (req, res) => {
    const { id } = parseWith(z.object({ id: idField }), req.params);
    const workspaceId = sessionOf(req).workspace.id;
    const delivery = await findDelivery(ctx, workspaceId, id);
    // Retention keeps every event that still has deliveries (db/retention.ts), so the event is there.
    const payload = JSON.stringify((await findEvent(ctx, workspaceId, delivery.eventId)).payload, null, 2);
    const notice =
      typeof req.query.replayed === 'string' ? 'Replayed: the newest attempt below is the manual one.' : null;
    render(res, 'delivery', { title: 'Delivery', tab: 'deliveries', delivery, payload, notice });
  });

  router.post('/settings/deliveries/:id/replay', formBody, requireCsrf, async (req, res) => {
    const { id } = parseWith(z.object({ id: idField }), req.params);
    await replayDelivery(ctx, sessionOf(req).workspace.id, id); // recorded already; the page reads it afresh
    res.redirect(303, `/settings/deliveries/${encodeURIComponent(id)}?replayed=1`);
  });

  router.get('/settings/workspace', (req, res) => {
    const { workspace } = sessionOf(req);
    render(res, 'workspace', {
      title: 'Workspace',
      tab: 'workspace',
      workspace,
      gated: !hasIntegration(workspace.plan),
      upgradeMessage: PLAN_UPGRADE_MESSAGE,
    });
  });

  router.use('/settings', (_req, res) => render(res, 'message', { title: 'Not found', message: 'No such page.' }, 404));

  // Errors of these pages are pages too: an ApiError's status and message, anything else a bare 500.
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof SettingsAccessError) {
      render(
        res,
        'message',
        { title: err.status === 400 ? 'Sign-in link refused' : 'Not allowed', message: err.message },
        err.status,
      );
      return;
    }
    if (err instanceof ApiError) {
      const detail = err.options.details?.map((d) => `${d.path}: ${d.message}`).join(' ') ?? '';
      render(
        res,
        'message',
        { title: err.code === 'not_found' ? 'Not found' : 'Refused', message: `${err.message} ${detail}`.trim() },
        err.status,
      );
      return;
    }
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      render(res, 'message', { title: 'Not found', message: 'No such page.' }, 404);
      return;
    }
    if (isStorageFault(err)) {
      render(
        res,
        'message',
        { title: 'Unavailable', message: 'Storage is unavailable right now. Try again shortly.' },
        503,
      );
      return;
    }
    ctx.log.error(
      'unhandled settings page error',
      redactFields({ method: req.method, path: req.path, error: err instanceof Error ? err.stack : String(err) }),
    );
    render(
      res,
      'message',
      { title: 'Something went wrong', message: 'Something went wrong on our side. Try again shortly.' },
      500,
    );
  });

  return router;
}

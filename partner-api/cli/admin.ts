/**
 * The operators' command line: workspaces, plans, assistants, agents and API keys, on the database at
 * ILLUMICHAT_DB_PATH. What a script needs (a new id, a key, a token) is printed alone on stdout; everything
 * for people goes to stderr. Errors and exit codes are cli/errors.ts's (0 done, 1 refused, 2 wrong usage,
 * 3 could not run): a command throws UsageError or ApiError and runAdmin reports it.
 *
 *   ./dev admin workspace create --name "Acme Support" --plan pro
 *   ./dev admin key create --workspace ws_… --scopes events:read,contacts:write --name Zapier
 */
import { parseArgs } from 'node:util';

import { type AppContext, createAppContext } from '../context';
import { openStore } from '../db/open-store';
import { createApiKey, listApiKeys, revokeApiKey } from '../domain/api-keys';
import { isScope, type Scope, SCOPES } from '../domain/credentials';
import { ApiError } from '../domain/errors';
import { createSignInLink, signInUrl } from '../domain/sessions';
import {
  AGENT_ROLES,
  type AgentRole,
  createAgent,
  createAssistant,
  createWorkspace,
  findWorkspace,
  isAgentRole,
  isPlan,
  listAgents,
  listAssistants,
  listWorkspaces,
  mayManageSettings,
  type Plan,
  PLANS,
  revokeAgentToken,
  rotateAgentToken,
  setAgentRole,
  setWorkspacePlan,
} from '../domain/workspaces';
import { emailField } from '../http/validate';
import { loadConfigOrExplain } from '../startup-errors';
import { CliFailure, EXIT, reportCliError, UsageError } from './errors';

export const USAGE = `Usage: npm run admin -- <command> [options]
   or: ./dev admin <command> [options]          the same, without npm's banner: stdout holds only the result

  workspace create --name NAME --plan PLAN      prints the new workspace id
  workspace set-plan WORKSPACE_ID --plan PLAN
  workspace list
  assistant create --workspace ID --name NAME   prints the new assistant id
  assistant list --workspace ID
  agent create --workspace ID --name NAME --email EMAIL [--role owner|admin|agent]
                                                prints the agent's console token (shown once)
  agent set-role AGENT_ID --role ROLE           owners and admins may open Settings; agents may not (their
                                                sessions end). The last owner able to sign in stays one
  agent sign-in-link AGENT_ID [--base-url URL]  prints a one-time link to Settings (15 minutes, single use)
  agent list --workspace ID                     never shows a token
  agent revoke AGENT_ID                         its console token, Settings sessions and unused sign-in links
                                                stop working now; refused for the last owner able to sign in
  agent rotate AGENT_ID                         prints a new console token (shown once); the old one, its
                                                Settings sessions and unused sign-in links stop working
  key create --workspace ID --scopes a,b --name NAME
                                                prints the API key (shown once; only its hash is kept)
  key list --workspace ID                       never shows a key, only its prefix
  key revoke KEY_ID                             also ends every subscription made with the key

Plans: ${PLANS.join(', ')}. Scopes: ${SCOPES.join(', ')}.
The database is ILLUMICHAT_DB_PATH (default data/illumichat.db).
Exit codes: 0 done, 1 refused (e.g. no such workspace), 2 wrong usage, 3 could not run (e.g. the database).
Errors: one line "error: …" on stderr, nothing on stdout.`;

export interface Io {
  stdout(line: string): void;
  stderr(line: string): void;
  env: NodeJS.ProcessEnv;
}

const COMMANDS = [
  'workspace create',
  'workspace set-plan',
  'workspace list',
  'assistant create',
  'assistant list',
  'agent create',
  'agent list',
  'agent revoke',
  'agent rotate',
  'agent set-role',
  'agent sign-in-link',
  'key create',
  'key list',
  'key revoke',
];

const OPTIONS = {
  name: { type: 'string' },
  plan: { type: 'string' },
  workspace: { type: 'string' },
  scopes: { type: 'string' },
  email: { type: 'string' },
  role: { type: 'string' },
  'base-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runAdmin(argv: string[], io: Io): Promise<number> {
  let ctx: AppContext | undefined;
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const { values, positionals } = parsed;
    if (values.help) {
      io.stderr(USAGE);
      return EXIT.ok;
    }
    if (positionals.length === 0) throw new UsageError('Give a command.');
    const command = positionals.slice(0, 2).join(' ');
    if (!COMMANDS.includes(command)) throw new UsageError(`Unknown command: ${command}`);
    ctx = await openContext(io.env);
    await run(ctx, positionals, values, io);
    return EXIT.ok;
  } catch (error) {
    return reportCliError(error, io, USAGE);
  } finally {
    await ctx?.store.close();
  }
}

type Values = {
  name?: string;
  plan?: string;
  workspace?: string;
  scopes?: string;
  email?: string;
  role?: string;
  'base-url'?: string;
};

async function run(ctx: AppContext, positionals: string[], values: Values, io: Io): Promise<void> {
  const [noun, verb, target, ...extra] = positionals;
  const command = `${noun} ${verb ?? ''}`.trim();
  const expectTarget = (label: string) => {
    if (!target) throw new UsageError(`${command} needs ${label}.`);
    if (extra.length) throw new UsageError(`Unexpected arguments: ${extra.join(' ')}`);
    return target;
  };
  const noTarget = () => {
    if (target) throw new UsageError(`Unexpected argument: ${target}`);
  };

  switch (command) {
    case 'workspace create': {
      noTarget();
      const workspace = await createWorkspace(ctx, { name: required(values.name, '--name'), plan: plan(values.plan) });
      io.stderr(`Created workspace "${workspace.name}" on the ${workspace.plan} plan.`);
      io.stdout(workspace.id);
      return;
    }
    case 'workspace set-plan': {
      const id = target ? expectTarget('a workspace id') : required(values.workspace, 'a workspace id');
      const workspace = await setWorkspacePlan(ctx, id, plan(values.plan));
      io.stderr(`Workspace ${workspace.id} ("${workspace.name}") is now on the ${workspace.plan} plan.`);
      return;
    }
    case 'workspace list': {
      noTarget();
      const rows = (await listWorkspaces(ctx)).map((w) => [w.id, w.plan, w.createdAt, w.name]);
      printTable(io, ['ID', 'PLAN', 'CREATED', 'NAME'], rows);
      return;
    }
    case 'assistant create': {
      noTarget();
      const assistant = await createAssistant(ctx, await workspaceId(ctx, values), required(values.name, '--name'));
      io.stderr(`Created assistant "${assistant.name}".`);
      io.stdout(assistant.id);
      return;
    }
    case 'assistant list': {
      noTarget();
      printTable(
        io,
        ['ID', 'NAME'],
        (await listAssistants(ctx, await workspaceId(ctx, values))).map((a) => [a.id, a.name]),
      );
      return;
    }
    case 'agent list': {
      noTarget();
      const rows = (await listAgents(ctx, await workspaceId(ctx, values))).map((a) => [
        a.id,
        a.createdAt,
        a.role,
        a.tokenRevokedAt ?? '-',
        a.email,
        a.name,
      ]);
      printTable(io, ['ID', 'CREATED', 'ROLE', 'TOKEN REVOKED', 'EMAIL', 'NAME'], rows);
      return;
    }
    case 'agent revoke': {
      const result = await revokeAgentToken(ctx, expectTarget('an agent id'));
      io.stderr(
        result.alreadyRevoked
          ? `Agent ${result.agent.id}'s console token was already revoked.`
          : `Revoked agent ${result.agent.id} (${result.agent.name}): its console token, Settings sessions and unused sign-in links no longer work; \`agent rotate\` issues a new token.`,
      );
      return;
    }
    case 'agent rotate': {
      const agent = await rotateAgentToken(ctx, expectTarget('an agent id'));
      io.stderr(
        `New console token for agent ${agent.id} (${agent.name}); the old one, its Settings sessions and unused sign-in links no longer work. It follows; it is shown only once.`,
      );
      io.stdout(agent.token);
      return;
    }
    case 'agent set-role': {
      const agent = await setAgentRole(ctx, expectTarget('an agent id'), role(values.role));
      io.stderr(`Agent ${agent.id} (${agent.name}) is now ${agent.role}.`);
      return;
    }
    case 'agent sign-in-link': {
      const agentId = expectTarget('an agent id');
      const baseUrl = values['base-url'] === undefined ? undefined : linkBase(values['base-url']);
      const link = await createSignInLink(ctx, agentId);
      if (!mayManageSettings(link.agent.role)) {
        io.stderr(
          `Note: ${link.agent.name} is ${link.agent.role === 'agent' ? 'an agent' : link.agent.role}; only owners and admins may open Settings (agent set-role).`,
        );
      }
      io.stderr(`One-time sign-in link for ${link.agent.name} <${link.agent.email}>, valid until ${link.expiresAt}:`);
      io.stdout(signInUrl(baseUrl ?? `http://${ctx.config.host}:${ctx.config.port}`, link.token));
      return;
    }
    case 'agent create': {
      noTarget();
      const agent = await createAgent(ctx, await workspaceId(ctx, values), {
        name: required(values.name, '--name'),
        email: email(values.email),
        role: values.role === undefined ? undefined : role(values.role),
      });
      io.stderr(
        `Created agent ${agent.id} (${agent.name} <${agent.email}>). Its console token follows; it is shown only once.`,
      );
      io.stdout(agent.token);
      return;
    }
    case 'key create': {
      noTarget();
      const key = await createApiKey(ctx, {
        workspaceId: await workspaceId(ctx, values),
        name: required(values.name, '--name'),
        scopes: scopes(values.scopes),
      });
      io.stderr(
        `Created API key ${key.id} (${key.prefix}…) with scopes ${key.scopes.join(', ')}. It follows; it is shown only once.`,
      );
      io.stdout(key.key);
      return;
    }
    case 'key list': {
      noTarget();
      const rows = (await listApiKeys(ctx, await workspaceId(ctx, values))).map((k) => [
        k.id,
        `${k.prefix}…`,
        k.scopes.join(','),
        k.createdAt,
        k.lastUsedAt ?? 'never',
        k.revokedAt ?? '-',
        k.name,
      ]);
      printTable(io, ['ID', 'PREFIX', 'SCOPES', 'CREATED', 'LAST USED', 'REVOKED', 'NAME'], rows);
      return;
    }
    case 'key revoke': {
      const result = await revokeApiKey(ctx, expectTarget('a key id'));
      io.stderr(
        result.alreadyRevoked
          ? `Key ${result.key.id} was already revoked at ${result.key.revokedAt}.`
          : `Revoked key ${result.key.id}; ${result.subscriptionsDeactivated} subscription(s) made with it were ended.`,
      );
      if (result.alreadyRevoked && result.subscriptionsDeactivated > 0) {
        io.stderr(`Ended ${result.subscriptionsDeactivated} subscription(s) still active under it.`);
      }
      return;
    }
    default:
      throw new UsageError(`Unknown command: ${command || '(none)'}`);
  }
}

function required(value: string | undefined, what: string): string {
  if (!value?.trim()) throw new UsageError(`Missing ${what}.`);
  return value.trim();
}

/** The same email syntax as every API route (http/validate.ts): an agent's address is no different. */
function email(value: string | undefined): string {
  const parsed = emailField.safeParse(required(value, '--email'));
  if (!parsed.success) throw new UsageError(`--email ${JSON.stringify(value)} is not an email address.`);
  return parsed.data;
}

/**
 * The address a sign-in link starts with: an http(s) URL, maybe with a path (a server behind a prefix), and
 * nothing the token would land after (a query, a fragment) or that a browser would refuse or ask about
 * (credentials). Returned as given; throws UsageError (exit 2) otherwise, before any link is made.
 */
function linkBase(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--base-url must be a web address such as https://api.illumichat.example, not "${value}".`);
  }
  if (!['http:', 'https:'].includes(url.protocol) || /[?#]/.test(value) || url.username || url.password)
    throw new UsageError(
      `--base-url must be an http or https address without a query, fragment or credentials, not "${value}".`,
    );
  return value;
}

function role(value: string | undefined): AgentRole {
  if (!value || !isAgentRole(value)) throw new UsageError(`--role must be one of ${AGENT_ROLES.join(', ')}.`);
  return value;
}

function plan(value: string | undefined): Plan {
  const given = required(value, '--plan');
  if (!isPlan(given)) throw new UsageError(`Unknown plan "${given}". Plans: ${PLANS.join(', ')}.`);
  return given;
}

function scopes(value: string | undefined): Scope[] {
  const given = required(value, '--scopes')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = given.filter((s) => !isScope(s));
  if (unknown.length) throw new UsageError(`Unknown scope(s): ${unknown.join(', ')}. Scopes: ${SCOPES.join(', ')}.`);
  if (given.length === 0) throw new UsageError('Give at least one scope.');
  return given as Scope[];
}

async function workspaceId(ctx: AppContext, values: Values): Promise<string> {
  const id = required(values.workspace, '--workspace');
  if (!(await findWorkspace(ctx, id))) throw new ApiError(404, 'not_found', `No workspace ${id}.`);
  return id;
}

function printTable(io: Io, header: string[], rows: string[][]): void {
  if (rows.length === 0) {
    io.stderr('(none)');
    return;
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  io.stdout(line(header));
  for (const row of rows) io.stdout(line(row));
}

/** The database ILLUMICHAT_DATABASE_URL or ILLUMICHAT_DB_PATH names, opened as the API opens it (db/open-store.ts).
 * A wrong setting, or a database that cannot be opened, reached or migrated, is a CliFailure (exit 3) saying so. */
async function openContext(env: NodeJS.ProcessEnv): Promise<AppContext> {
  const log = {
    info: () => undefined,
    error: (message: string, fields?: object) => console.error(message, fields ?? ''),
  };
  let config;
  let store;
  try {
    config = loadConfigOrExplain(env);
    store = await openStore(config, { onError: (error) => log.error(error.message) });
  } catch (error) {
    throw new CliFailure((error as Error).message);
  }
  return createAppContext({ store, config, log });
}

if (require.main === module) {
  void runAdmin(process.argv.slice(2), {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
  }).then((code) => (process.exitCode = code));
}

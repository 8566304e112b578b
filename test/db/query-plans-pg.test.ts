/**
 * The query-plan guard on PostgreSQL. SQLite's guard (query-plans.test.ts) reads SQLite's planner; this one
 * reads PostgreSQL's, on the same workload (test/db/support/plan-workload.ts: every route, the settings pages,
 * the worker and its claims, the fan-out, a retention pass), each statement the PostgreSQL store ran recorded
 * with its first parameters and the line that ran it. After ANALYZE, each is explained (EXPLAIN (FORMAT JSON),
 * with those parameters, in a transaction rolled back) under `SET LOCAL enable_seqscan = off`, and:
 *   1. every statement call site in partner-api/ ran, but SQLite's own, so the checks below see them all;
 *   2. no Seq Scan of a large table;
 *   3. with sorts priced out too (enable_sort = off), no Sort over a large table's rows: an index gives the
 *      order, so a LIMIT stops the walk instead of every matching row being read and sorted first;
 *   4. the hot statements (the list and search routes, the claim, the fan-out, retention's batches) use the
 *      index each was made for;
 *   5. and 2-4 can fail: with each of those indexes dropped (in the rolled-back transaction) 2 or 4 fails.
 *
 * Why price sequential scans (and, for 3, sorts) out rather than seed enough rows that the planner prefers
 * indexes: PostgreSQL chooses by cost, and on a test-sized table, or with low-selectivity statistics (as
 * `status = 'pending'` on a quiet queue), a Seq Scan or a sort is the cheaper plan even where a good index
 * exists, so a size-based guard would fail on good statements or need millions of rows. Priced out, one
 * remains only where no index can serve the statement: what breaks at scale, and the same answer whatever
 * the statistics. ANALYZE first, so the choice among indexes (4) follows the seeded rows: other workspaces'
 * events, deliveries, contacts, conversations, tickets and Zaps. Exceptions would go in ALLOWED, with why.
 */
import type { Tx } from '../../partner-api/db/store';
import { type ApiServer, startApiServer } from '../support/api-server';
import { PG_SETUP_TIMEOUT_MS } from '../support/pg';
import { type Receiver, startReceiver } from '../support/receiver';
import { describeEngine } from '../support/test-store';
import { callSites, LARGE, type Ran, recordStatements, runPlanWorkload, statements } from './support/plan-workload';

describeEngine(
  'postgres',
  "PostgreSQL's planner (EXPLAIN (FORMAT JSON)); SQLite's is query-plans.test.ts",
  'query plans on PostgreSQL',
  () => {
    /** The store and the statement cache: a statement's site is the first frame outside them. */
    const STORE_FILES = new Set([
      'partner-api/lib/statements.ts',
      'partner-api/db/pg-store.ts',
      'partner-api/context.ts',
    ]);

    /** Files whose statements this guard does not need to see, and why. */
    const NOT_HERE: Record<string, string> = {
      'partner-api/db/sqlite-store.ts': "SQLite's store",
      'partner-api/db/open.ts': "SQLite's file opener",
      'partner-api/db/checkpointer.ts': "SQLite's WAL checkpoints",
      'partner-api/db/checkpointer-thread.ts': "SQLite's WAL checkpoints",
      'partner-api/delivery/claimer.ts': "SQLite's claimer (PostgreSQL's is pg-claimer.ts)",
      'partner-api/db/pg-locks.ts': 'an advisory lock: it reads no table',
    };

    /** Statement text (whitespace collapsed) → why its Seq Scan of a large table is fine. */
    const ALLOWED: Record<string, string> = {};
    /**
     * Statements whose Sort of a large table's rows is bounded by the statement itself, with why. The check
     * below still plans them, and "each exception is still needed" fails once one no longer sorts.
     */
    const BOUNDED_SORTS: { text: RegExp; why: string }[] = [
      {
        text: /^WITH clock AS .* held AS MATERIALIZED .* scanned AS MATERIALIZED .* open AS \(/,
        why:
          "the claim's read (delivery/pg-claimer.ts) ranks what it read: at most WINDOW_ROWS + NEWEST_ROWS due rows " +
          'and the rows claimed and not finished (each instance holds at most its overall share), each read in ' +
          'due-time order through deliveries_due',
      },
    ];
    const boundedSort = (text: string) => BOUNDED_SORTS.some((b) => b.text.test(text));

    /**
     * The hot statements and the indexes each must use: found by a pattern on its text (whitespace collapsed),
     * with what it is. Each must have run, and be the only statement its pattern matches.
     */
    const HOT: { what: string; text: RegExp; indexes: string[] }[] = [
      {
        what: 'GET /v1/deliveries, a first page',
        text: /FROM deliveries WHERE workspace_id = \? ORDER BY created_at DESC, id DESC LIMIT \?$/,
        indexes: ['deliveries_by_workspace'],
      },
      {
        what: 'GET /v1/conversations, a first page',
        text: /FROM conversations v WHERE v\.workspace_id = \? ORDER BY v\.started_at DESC, v\.id DESC LIMIT \?$/,
        indexes: ['conversations_by_start'],
      },
      {
        what: 'GET /v1/conversations?visitor_email (Find Conversation)',
        text: /FROM conversations v WHERE v\.workspace_id = \? AND v\.visitor_email_normalized = \? ORDER BY/,
        indexes: ['conversations_by_visitor_email'],
      },
      {
        what: 'GET /v1/contacts?email (Find Contact)',
        text: /^SELECT \* FROM contacts WHERE workspace_id = \? AND email_normalized = \?$/,
        indexes: ['contacts_workspace_id_email_normalized_key'],
      },
      {
        what: 'GET /v1/conversations/{id}/messages',
        text: /FROM messages WHERE conversation_id = \? ORDER BY created_at DESC, id DESC LIMIT \?$/,
        indexes: ['messages_by_conversation'],
      },
      {
        what: 'GET /v1/samples',
        text: /^SELECT payload FROM events WHERE workspace_id = \? AND type = \? ORDER BY seq DESC LIMIT \?$/,
        indexes: ['events_samples'],
      },
      {
        what: 'GET /v1/samples?assistant_id',
        text: /^SELECT payload FROM events WHERE workspace_id = \? AND type = \? AND assistant_id = \? ORDER BY seq DESC/,
        indexes: ['events_samples_by_assistant'],
      },
      // The claim's read, which walks the due rows. Not its TAKE (`id = ANY (?)`, FOR UPDATE OF d SKIP LOCKED): on
      // tables this small the planner reads those few ids through deliveries_due, deliveries_pkey or
      // deliveries_pending_by_subscription by turns (each seen in CI), where at scale the ids' pkey lookups are
      // the cheapest by far; the checks above still see it.
      {
        what: "the claim's read of due rows (delivery/pg-claimer.ts)",
        text: /^WITH clock AS .* scanned AS MATERIALIZED .* newest AS \(/,
        indexes: ['deliveries_due'],
      },
      {
        what: 'the fan-out: whether an event awaits it',
        text: /FROM events WHERE fanout_upto IS NOT NULL AND workspace_id > \? ORDER BY workspace_id, seq LIMIT 1$/,
        indexes: ['events_awaiting_fanout_by_workspace'],
      },
      {
        what: 'the fan-out: the next event awaiting it, claimed',
        text: /FROM events WHERE fanout_upto IS NOT NULL AND workspace_id > \? .*FOR NO KEY UPDATE SKIP LOCKED$/,
        indexes: ['events_awaiting_fanout_by_workspace'],
      },
      {
        what: "the fan-out: the event's subscriptions",
        text: /^SELECT rowid, id FROM subscriptions WHERE workspace_id = \? AND event_type = \? AND active = 1/,
        indexes: ['subscriptions_matching_by_rowid'],
      },
      {
        what: "retention: a batch's deliveries",
        text: /^SELECT rowid, id, status, created_at AS "createdAt" FROM deliveries WHERE rowid > \?/,
        indexes: ['deliveries_rowid'],
      },
      {
        what: "retention: a delivery's lock",
        text: /^UPDATE deliveries SET status = status WHERE rowid = \?/,
        indexes: ['deliveries_rowid'],
      },
      {
        what: "retention: a delivery's attempts deleted",
        text: /^DELETE FROM delivery_attempts WHERE delivery_id = \?$/,
        indexes: ['delivery_attempts_by_delivery'],
      },
      {
        what: 'retention: a delivery deleted',
        text: /^DELETE FROM deliveries WHERE rowid = \?$/,
        indexes: ['deliveries_rowid'],
      },
      {
        what: "retention: a batch's events",
        text: /FROM events WHERE seq > \? ORDER BY seq LIMIT \?$/,
        indexes: ['events_pkey'],
      },
      {
        what: "retention: the samples' floor",
        text: /^SELECT seq FROM events WHERE workspace_id = \? AND type = \? ORDER BY seq DESC LIMIT 1 OFFSET \?$/,
        indexes: ['events_samples'],
      },
      {
        what: "retention: the samples' floor for an assistant",
        text: /^SELECT seq FROM events WHERE workspace_id = \? AND type = \? AND assistant_id = \? ORDER BY seq DESC/,
        indexes: ['events_samples_by_assistant'],
      },
      {
        what: 'retention: an event that still has deliveries',
        text: /^SELECT 1 FROM deliveries WHERE event_id = \? LIMIT 1$/,
        indexes: ['deliveries_event_id_subscription_id_key'],
      },
      { what: 'retention: an event deleted', text: /^DELETE FROM events WHERE seq = \?$/, indexes: ['events_pkey'] },
      {
        what: 'retention: expired Idempotency-Keys',
        text: /^DELETE FROM idempotency_keys WHERE \(workspace_id, key\) IN/,
        indexes: ['idempotency_keys_by_age', 'idempotency_keys_pkey'],
      },
    ];

    let server: ApiServer;
    let receiver: Receiver;
    let ran: Ran[] = [];
    let restore = () => {};

    beforeAll(async () => {
      receiver = await startReceiver();
      server = await startApiServer({ delivery: true });
      // The PostgreSQL store's and transaction's statement methods, on their shared base class.
      const queryable = Object.getPrototypeOf(Object.getPrototypeOf(server.ctx.store) as object) as object;
      ({ ran, restore } = recordStatements([queryable], STORE_FILES));
      await runPlanWorkload(server, receiver);
      restore();
      await server.worker?.stop(); // nothing else takes locks while indexes are dropped below
      await server.ctx.db.run('ANALYZE');
    }, PG_SETUP_TIMEOUT_MS);
    afterAll(async () => {
      restore();
      await server?.close();
      await receiver?.close();
    });

    // ---------------------------------------------------------------------------------------------------------
    // Plans

    interface PlanNode {
      'Node Type': string;
      'Relation Name'?: string;
      'Index Name'?: string;
      Plans?: PlanNode[];
    }

    /** Rolls a transaction back: thrown out of `write` on purpose. */
    class RolledBack extends Error {}

    interface PlanOptions {
      /** Also price sorts out (enable_sort = off): a Sort left then is one no index can spare. */
      noSort?: boolean;
      /** Also price incremental sorts out (enable_incremental_sort = off). */
      noIncrementalSort?: boolean;
      /** A DDL statement run first, rolled back with the transaction (an index dropped). */
      before?: string;
    }

    /**
     * The plan of `text` with `params` under enable_seqscan = off (and the options'). EXPLAIN without ANALYZE
     * runs nothing, a write included; the transaction is rolled back.
     */
    async function plan(text: string, params: unknown[], options: PlanOptions = {}): Promise<PlanNode> {
      let found: PlanNode | undefined;
      await server.ctx.store
        .write(async (tx: Tx) => {
          await tx.run('SET LOCAL enable_seqscan = off');
          if (options.noSort) await tx.run('SET LOCAL enable_sort = off');
          if (options.noIncrementalSort) await tx.run('SET LOCAL enable_incremental_sort = off');
          if (options.before) await tx.run(options.before);
          const explained = await tx.value<[{ Plan: PlanNode }]>(`EXPLAIN (FORMAT JSON) ${text}`, ...params);
          found = explained![0].Plan;
          throw new RolledBack();
        })
        .catch((error: unknown) => {
          if (!(error instanceof RolledBack)) throw error;
        });
      return found!;
    }

    function nodes(root: PlanNode): PlanNode[] {
      return [root, ...(root.Plans ?? []).flatMap(nodes)];
    }

    /** "Seq Scan on <table>" for each large table the plan reads in full. */
    function largeSeqScans(root: PlanNode): string[] {
      return nodes(root)
        .filter((n) => n['Node Type'] === 'Seq Scan' && LARGE.has(n['Relation Name'] ?? ''))
        .map((n) => `Seq Scan on ${n['Relation Name']}`);
    }

    /** "Sort of <tables>" for each sort whose input reads a large table: every matching row is read before LIMIT. */
    function largeSorts(root: PlanNode): string[] {
      return nodes(root)
        .filter((n) => n['Node Type'] === 'Sort')
        .map((n) => nodes(n).flatMap((m) => (LARGE.has(m['Relation Name'] ?? '') ? [m['Relation Name']!] : [])))
        .filter((tables) => tables.length > 0)
        .map((tables) => `Sort of ${[...new Set(tables)].join(', ')}`);
    }

    function indexesUsed(root: PlanNode): Set<string> {
      return new Set(nodes(root).flatMap((n) => (n['Index Name'] ? [n['Index Name']] : [])));
    }

    /** What the guard finds wrong with `hot`'s plan: a Seq Scan of a large table, an expected index unused. */
    function problems(hot: (typeof HOT)[number], root: PlanNode): string[] {
      const used = indexesUsed(root);
      return [
        ...largeSeqScans(root),
        ...hot.indexes
          .filter((index) => !used.has(index))
          .map((index) => `${index} unused (used: ${[...used].join(', ')})`),
      ];
    }

    /** The one statement that ran whose text `hot.text` matches: as it ran, with its first parameters. */
    function hotStatement(hot: (typeof HOT)[number]): { text: string; params: unknown[] } {
      const matching = [...statements(ran)].filter(([text]) => hot.text.test(text));
      expect({ what: hot.what, ran: matching.length }).toEqual({ what: hot.what, ran: 1 });
      const [, { original, params }] = matching[0]!;
      return { text: original, params };
    }

    /** DROP INDEX; for an index that backs a constraint (a primary key, a UNIQUE), dropping the constraint. */
    async function dropIndex(index: string): Promise<string> {
      const table = await server.ctx.db.value<string>(
        `SELECT conrelid::regclass::text FROM pg_constraint WHERE conindid = CAST(? AS regclass)`,
        index,
      );
      return table ? `ALTER TABLE ${table} DROP CONSTRAINT ${index} CASCADE` : `DROP INDEX ${index}`;
    }

    describe('query plans of every statement the API runs on PostgreSQL', () => {
      it('the workload ran every statement in partner-api/ but SQLite-only ones (so the checks below see them all)', () => {
        const sitesRun = new Set(ran.map((r) => r.site));
        const notRun = callSites((file) => STORE_FILES.has(file) || file in NOT_HERE).filter(
          (site) => !sitesRun.has(site),
        );
        expect(notRun).toEqual([]);
      });

      it('no statement reads a large table in full (a Seq Scan with sequential scans priced out)', async () => {
        const scans: string[] = [];
        for (const [text, { original, sites, params }] of statements(ran)) {
          if (ALLOWED[text]) continue;
          const found = largeSeqScans(await plan(original, params));
          if (found.length > 0) scans.push(`${found.join(', ')}\n    ${text}\n    at ${[...sites].join(', ')}`);
        }
        expect(scans).toEqual([]);
      });

      it('no statement sorts rows of a large table (a LIMIT only stops a walk that is already in order)', async () => {
        const sorting: string[] = [];
        for (const [text, { original, sites, params }] of statements(ran)) {
          if (ALLOWED[text] || boundedSort(text)) continue;
          const found = largeSorts(await plan(original, params, { noSort: true }));
          if (found.length > 0) sorting.push(`${found.join(', ')}\n    ${text}\n    at ${[...sites].join(', ')}`);
        }
        expect(sorting).toEqual([]);
      });

      // Sorts and incremental sorts priced out too: on tables this small the planner may otherwise pick another
      // index of the same leading column and sort what it reads (deliveries_by_workspace_type and an incremental
      // sort for a first page, in one run of five), which reads a whole workspace's rows once it is large.
      it.each(HOT.map((hot) => [hot.what, hot] as const))('%s uses its index', async (_what, hot) => {
        const { text, params } = hotStatement(hot);
        expect(problems(hot, await plan(text, params, { noSort: true, noIncrementalSort: true }))).toEqual([]);
      });

      it.each(HOT.flatMap((hot) => hot.indexes.map((index) => [hot.what, index, hot] as const)))(
        '%s: the guard fails without %s',
        async (_what, index, hot) => {
          const { text, params } = hotStatement(hot);
          const without = problems(hot, await plan(text, params, { before: await dropIndex(index) }));
          expect(without).not.toEqual([]);
        },
      );

      it('each exception is still needed', async () => {
        const seen = statements(ran);
        for (const { text } of BOUNDED_SORTS) {
          const matching = [...seen].filter(([normalized]) => text.test(normalized));
          expect({ text: String(text), ran: matching.length }).toEqual({ text: String(text), ran: 1 });
          const [, { original, params }] = matching[0]!;
          const sorts = largeSorts(await plan(original, params, { noSort: true }));
          expect({ text: String(text), needed: sorts.length > 0 }).toEqual({ text: String(text), needed: true });
        }
        for (const text of Object.keys(ALLOWED)) {
          expect({ text, ran: seen.has(text) }).toEqual({ text, ran: true });
          const { original, params } = seen.get(text)!;
          const scans = largeSeqScans(await plan(original, params));
          expect({ text, needed: scans.length > 0 }).toEqual({ text, needed: true });
        }
      });
    });
  },
);

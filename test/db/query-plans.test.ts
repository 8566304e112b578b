/**
 * The query-plan guard: no statement the API runs may read a large table in full, or walk an index range of
 * one rejecting rows it does not return (the kind of GET /v1/samples?assistant_id=…, which read every event
 * of the type for an assistant with none: 0.9 s a call at 1M events, with the event loop stopped).
 *
 * The statements are not listed by hand. Every SQL text the API runs (through the store's one, value,
 * values, all and run, db/store.ts) is recorded, with the line that ran it, while a workload runs on a seeded database: every route the app registers with a
 * well-formed request (test/proof/support/routes.ts, which the fuzz test keeps complete), the delivery
 * worker delivering, retrying, meeting a 410 and a revoked key, and a retention pass. Then:
 *   1. every statement call site in partner-api/ (`db.one(`, `tx.run(`, …) must have run (a statement added later without
 *      a way to reach it from this workload fails here, and is then checked like the rest);
 *   2. EXPLAIN QUERY PLAN: no SCAN of a table (all of them grow with customers or traffic);
 *   3. EXPLAIN (bytecode): no loop over a large table's rows or index entries with a filter that skips to
 *      the next row, i.e. rows read that are not returned, whose number the caller does not bound;
 *   4. no temp B-tree to sort a large table's rows: every matching row is read before LIMIT can apply.
 * Exceptions are in ALLOWED below, each with why it is safe.
 */
import { sqliteHandle, SqliteStore, SqliteTx } from '../../partner-api/db/sqlite-store';
import { type ApiServer, startApiServer } from '../support/api-server';
import { type Receiver, startReceiver } from '../support/receiver';
import { describeEngine } from '../support/test-store';
import { callSites, LARGE, type Ran, recordStatements, runPlanWorkload, statements } from './support/plan-workload';

describeEngine('sqlite', "SQLite's query planner (EXPLAIN QUERY PLAN)", 'query plans', () => {
  /** The statement cache and the store over it: a statement's site is the first frame outside them. */
  const STORE_FILES = new Set([
    'partner-api/lib/statements.ts',
    'partner-api/db/sqlite-store.ts',
    'partner-api/context.ts',
  ]);

  // ---------------------------------------------------------------------------------------------------------
  // What counts, and the deliberate exceptions

  /** Why the contact upserts' plans may scan tickets and conversations (both texts, in ALLOWED below). */
  const CONTACT_UPSERT =
    "the contact upsert (domain/contacts.ts; the API's, and the widget lead form's that only fills blanks): SQLite plans a check of the rows referencing a contact (tickets, conversations) for any upsert into contacts, in case its DO UPDATE changed the key; this one never changes `id`, so the check never runs (an upsert of a contact with 300,000 unindexed referencing rows took 3.5 µs, as with none)";
  /** Statement text (whitespace collapsed) → why its scan or skipping loop is fine. */
  const ALLOWED: Record<string, string> = {
    'SELECT * FROM workspaces ORDER BY created_at, id':
      'admin CLI `workspace list` only, which lists them all by design; one row per customer',
    'SELECT COUNT(*) FROM workspaces': 'once at start (is the database empty, for the demo seed); one row per customer',
    'SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name FROM conversations v WHERE v.workspace_id = ? AND (v.started_at, v.id) < (?, ?) ORDER BY v.started_at DESC, v.id DESC LIMIT ?':
      "a page after the first: the seek is on started_at; it skips only the rows with the cursor's own started_at (one millisecond) that the previous page returned",
    'SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name FROM conversations v WHERE v.workspace_id = ? AND v.mode = ? AND (v.started_at, v.id) < (?, ?) ORDER BY v.started_at DESC, v.id DESC LIMIT ?':
      'the same, filtered to one mode (its own index)',
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_workspace WHERE workspace_id = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      "the delivery log's page after the first: the seek is on created_at; it skips only the rows with the cursor's own created_at (one millisecond) that the previous page returned",
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_workspace_status WHERE workspace_id = ? AND status = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      'the same, filtered to one status (its own index)',
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_workspace_type WHERE workspace_id = ? AND event_type = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      'the same, filtered to one event type (its own index)',
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_workspace_status WHERE workspace_id = ? AND status = ? AND event_type = ? ORDER BY created_at DESC, id DESC LIMIT ?':
      "a status and an event type at once (the log's filters combined): the range of the status skips its rows of other event types, the workspace's own deliveries, never more than retention keeps; the cost of a third index per combination on every delivery insert is not worth it",
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_workspace_status WHERE workspace_id = ? AND status = ? AND event_type = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      'the same, a page after the first',
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_subscription WHERE subscription_id = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      "one Zap's log, a page after the first: as the workspace's",
    'SELECT id, event_id, subscription_id, event_type, status, attempts, next_attempt_ms, last_error, created_at, finished_at FROM deliveries INDEXED BY deliveries_by_subscription_status WHERE subscription_id = ? AND status = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?':
      'the same, filtered to one status (its own index)',
    'SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name FROM conversations v WHERE v.workspace_id = ? AND v.visitor_email_normalized = ? AND (v.started_at, v.id) < (?, ?) ORDER BY v.started_at DESC, v.id DESC LIMIT ?':
      "one visitor's conversations (Find Conversation), a page after the first: as above, on conversations_by_visitor_email",
    'SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name FROM conversations v WHERE v.workspace_id = ? AND v.visitor_email_normalized = ? AND v.mode = ? ORDER BY v.started_at DESC, v.id DESC LIMIT ?':
      "one visitor's conversations filtered to a mode: it skips only that visitor's conversations in the other mode (one person's chats)",
    'SELECT v.*, (SELECT name FROM assistants WHERE id = v.assistant_id) AS assistant_name FROM conversations v WHERE v.workspace_id = ? AND v.visitor_email_normalized = ? AND v.mode = ? AND (v.started_at, v.id) < (?, ?) ORDER BY v.started_at DESC, v.id DESC LIMIT ?':
      'the same, a page after the first',
    'SELECT COUNT(*) FROM delivery_attempts WHERE delivery_id = ? AND manual = 1':
      "a replay counts the delivery's manual attempts (delivery/replay.ts MANUAL_ATTEMPTS_MAX): it skips only the delivery's automatic ones, at most the retry schedule's length + 1",
    "SELECT id FROM deliveries d WHERE subscription_id = ? AND status = 'failed' AND created_at >= ? AND (SELECT COUNT(*) FROM delivery_attempts a WHERE a.delivery_id = d.id AND a.manual = 1) < ? ORDER BY created_at LIMIT ?":
      "the bulk replay's choice: it skips only the Zap's failed deliveries already replayed the maximum 20 times (each one 20 deliberate, rate-limited replays that really sent), and per delivery its few automatic attempts",
    [`SELECT rowid, id, subscription_id AS "subscriptionId", status, next_attempt_ms AS "dueMs" FROM deliveries WHERE status = 'pending' AND next_attempt_ms > ? AND next_attempt_ms <= ? AND rowid <= ? ORDER BY next_attempt_ms, rowid`]:
      'the claimer: rows that came due in the window since its last look; it skips only rows appended since then, which newRows reads next (a few at most)',
    [`SELECT rowid, id, subscription_id AS "subscriptionId", status, next_attempt_ms AS "dueMs" FROM deliveries WHERE status = 'pending' AND next_attempt_ms <= ? AND rowid <= ? ORDER BY next_attempt_ms, rowid`]:
      'the claimer: every due row, read at start and on a rare rescan; it skips only rows appended during the rescan',
    'INSERT INTO contacts (id, workspace_id, email, email_normalized, name, phone, company, notes, source, assistant_id, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, email_normalized) DO UPDATE SET name = COALESCE(excluded.name, contacts.name), phone = COALESCE(excluded.phone, contacts.phone), company = COALESCE(excluded.company, contacts.company), notes = COALESCE(excluded.notes, contacts.notes), updated_at = excluded.updated_at RETURNING *':
      CONTACT_UPSERT,
    'INSERT INTO contacts (id, workspace_id, email, email_normalized, name, phone, company, notes, source, assistant_id, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, email_normalized) DO UPDATE SET name = COALESCE(contacts.name, excluded.name), phone = COALESCE(contacts.phone, excluded.phone), company = COALESCE(contacts.company, excluded.company), notes = COALESCE(contacts.notes, excluded.notes), updated_at = excluded.updated_at RETURNING *':
      CONTACT_UPSERT,
  };

  // ---------------------------------------------------------------------------------------------------------
  // The workload (test/db/support/plan-workload.ts)

  let server: ApiServer;
  let receiver: Receiver;
  let ran: Ran[] = [];
  let restore = () => {};

  beforeAll(async () => {
    ({ ran, restore } = recordStatements([SqliteStore.prototype, SqliteTx.prototype], STORE_FILES));
    receiver = await startReceiver();
    server = await startApiServer({ delivery: true });
    await runPlanWorkload(server, receiver);
  }, 120_000);
  afterAll(async () => {
    restore();
    await server?.close();
    await receiver?.close();
  });

  // ---------------------------------------------------------------------------------------------------------
  // The checks

  /** Binds NULL to every parameter: plans do not depend on values here (no ANALYZE statistics). */
  function explain(prefix: 'EXPLAIN' | 'EXPLAIN QUERY PLAN', text: string): Record<string, unknown>[] {
    const statement = sqliteHandle(server.ctx.store).prepare(`${prefix} ${text}`);
    for (let count = 0; ; count++) {
      try {
        return statement.all(...new Array(count).fill(null)) as Record<string, unknown>[];
      } catch (error) {
        // Thrown from better-sqlite3's realm, not jest's: compared by name.
        if ((error as Error).name !== 'RangeError' || count > 100) throw error;
      }
    }
  }

  /** Root page → table name, for both a table's and an index's pages. */
  async function tablesByRootPage(): Promise<Map<number, string>> {
    const rows = await server.ctx.db.all<{ rootpage: number; tableName: string }>(
      `SELECT rootpage, tbl_name AS tableName FROM sqlite_schema WHERE rootpage > 0`,
    );
    return new Map(rows.map((r) => [r.rootpage, r.tableName]));
  }

  interface Op {
    addr: number;
    opcode: string;
    p1: number;
    p2: number;
    p3: number;
  }

  /** Cursor number → the table it reads (through the table or one of its indexes). */
  function cursorTables(ops: Op[], rootPages: Map<number, string>): Map<number, string> {
    const cursorTable = new Map<number, string>();
    for (const op of ops)
      if (op.opcode === 'OpenRead' || op.opcode === 'OpenWrite') cursorTable.set(op.p1, rootPages.get(op.p2) ?? '?');
    return cursorTable;
  }

  function tablesOpened(text: string, rootPages: Map<number, string>): string[] {
    return [...cursorTables(explain('EXPLAIN', text) as unknown as Op[], rootPages).values()];
  }

  const JUMPS_ON_A_ROW = new Set([
    'Eq',
    'Ne',
    'Lt',
    'Le',
    'Gt',
    'Ge',
    'If',
    'IfNot',
    'IsNull',
    'NotNull',
    'IsType',
    'IfNullRow',
    'NotFound',
    'Found',
    'SeekRowid',
    'NotExists',
  ]);

  /**
   * Loops over a large table's rows (or one of its indexes) that reject rows: a row-dependent jump inside the
   * loop body straight to the loop's own Next/Prev, i.e. "skip this row, read the next one".
   */
  function skippingLoops(text: string, rootPages: Map<number, string>): string[] {
    const ops = explain('EXPLAIN', text) as unknown as Op[];
    const cursorTable = cursorTables(ops, rootPages);
    const found: string[] = [];
    for (const loop of ops) {
      if (loop.opcode !== 'Next' && loop.opcode !== 'Prev') continue;
      const table = cursorTable.get(loop.p1);
      if (!table || !LARGE.has(table)) continue;
      const body = ops.filter((op) => op.addr >= loop.p2 && op.addr < loop.addr);
      if (body.some((op) => JUMPS_ON_A_ROW.has(op.opcode) && op.p2 === loop.addr)) found.push(table);
    }
    return found;
  }

  describe('query plans of every statement the API prepares', () => {
    it('the workload ran every statement in partner-api/ (so the checks below see them all)', () => {
      const sitesRun = new Set(ran.map((p) => p.site));
      // PostgreSQL's own statements (its store, locks, claimer) never run on this SQLite workload.
      const notRun = callSites((file) => STORE_FILES.has(file) || /^partner-api\/(db|delivery)\/pg-/.test(file)).filter(
        (site) => !sitesRun.has(site),
      );
      expect(notRun).toEqual([]);
    });

    it('no statement scans a whole table', () => {
      const scans: string[] = [];
      for (const [text, { sites }] of statements(ran)) {
        if (ALLOWED[text]) continue;
        for (const row of explain('EXPLAIN QUERY PLAN', text)) {
          const detail = String(row.detail);
          if (/^SCAN (?!CONSTANT ROW)/.test(detail))
            scans.push(`${detail}\n    ${text}\n    at ${[...sites].join(', ')}`);
        }
      }
      expect(scans).toEqual([]);
    });

    it('no statement reads rows of a large table only to skip them', async () => {
      const rootPages = await tablesByRootPage();
      const skipping: string[] = [];
      for (const [text, { sites }] of statements(ran)) {
        if (ALLOWED[text]) continue;
        const tables = skippingLoops(text, rootPages);
        if (tables.length > 0) skipping.push(`${tables.join(', ')}: ${text}\n    at ${[...sites].join(', ')}`);
      }
      expect(skipping).toEqual([]);
    });

    it('no statement sorts rows of a large table (a LIMIT only stops a walk that is already in order)', async () => {
      const sorting: string[] = [];
      const rootPages = await tablesByRootPage();
      for (const [text, { sites }] of statements(ran)) {
        if (ALLOWED[text]) continue;
        const plan = explain('EXPLAIN QUERY PLAN', text).map((row) => String(row.detail));
        const touchesLarge = tablesOpened(text, rootPages).some((table) => LARGE.has(table));
        if (touchesLarge && plan.some((detail) => detail.startsWith('USE TEMP B-TREE')))
          sorting.push(`${plan.join(' | ')}\n    ${text}\n    at ${[...sites].join(', ')}`);
      }
      expect(sorting).toEqual([]);
    });

    it('each exception is still needed (an index added later makes its entry obsolete)', async () => {
      const seen = statements(ran);
      const rootPages = await tablesByRootPage();
      for (const text of Object.keys(ALLOWED)) {
        expect({ text, ran: seen.has(text) }).toEqual({ text, ran: true });
        const scans = explain('EXPLAIN QUERY PLAN', text).some((row) =>
          /^SCAN (?!CONSTANT ROW)|^USE TEMP B-TREE/.test(String(row.detail)),
        );
        expect({ text, needed: scans || skippingLoops(text, rootPages).length > 0 }).toEqual({ text, needed: true });
      }
    });
  });
});

/**
 * The two engines' schemas stay in step (issue 13 §1, ADR 0010 §7): a fresh SQLite file and a fresh
 * PostgreSQL database, each migrated by its own files, have the same tables; each table the same columns in
 * the same order (name, kind of type, nullability, default, identity), primary key, unique constraints,
 * foreign keys, and the same named indexes (columns, direction, uniqueness, partial-index predicate).
 * A table on one engine only must be listed below with its reason.
 */
import type Database from 'better-sqlite3';

import { openDatabase } from '../../partner-api/db/open';
import { openPgStore, type PgStore } from '../../partner-api/db/pg-store';
import { closeAfterFile, freshPgDatabaseUrl, PG_SETUP_TIMEOUT_MS } from '../support/pg';

/** Tables only PostgreSQL has, and why. */
const ONLY_ON_POSTGRES: Record<string, string> = {
  schema_migrations:
    "the applied migrations' versions (db/pg-migrate.ts); SQLite keeps its version in PRAGMA user_version",
  rate_limits:
    "the rate limits' counts shared by every instance (migration 012, http/rate-limit.ts); SQLite's one process counts in memory",
};
/** Tables only SQLite has, and why. */
const ONLY_ON_SQLITE: Record<string, string> = {};

const EXPLICIT_ROWID =
  "SQLite's implicit rowid, made explicit (migration 013): the fan-out, the claimer and retention read it";
/** Columns (table.column) only PostgreSQL has, and why: SQLite has them too, but hidden from its table_info. */
const COLUMNS_ONLY_ON_POSTGRES: Record<string, string> = {
  'subscriptions.rowid': EXPLICIT_ROWID,
  'deliveries.rowid': EXPLICIT_ROWID,
};
/** Indexes only PostgreSQL has, and why. */
const INDEXES_ONLY_ON_POSTGRES: Record<string, string> = {
  subscriptions_rowid: `${EXPLICIT_ROWID}; SQLite's table b-tree is keyed by it already`,
  deliveries_rowid: `${EXPLICIT_ROWID}; SQLite's table b-tree is keyed by it already`,
  subscriptions_matching_by_rowid:
    "the fan-out's look-up in rowid order (migration 016); SQLite's subscriptions_matching ends in the rowid already",
};

interface Column {
  name: string;
  kind: 'integer' | 'text' | 'real';
  notNull: boolean;
  default: string | null;
  /** SQLite's INTEGER PRIMARY KEY AUTOINCREMENT; PostgreSQL's GENERATED … AS IDENTITY. */
  generated: boolean;
}

interface Index {
  table: string;
  columns: string[];
  unique: boolean;
  where: string | null;
}

interface Schema {
  tables: string[];
  columns: Record<string, Column[]>;
  primaryKeys: Record<string, string[]>;
  /** Per table, the column lists of its unique constraints (named by each engine its own way), sorted. */
  uniqueConstraints: Record<string, string[]>;
  /** Per table, "columns -> table(columns)", sorted. */
  foreignKeys: Record<string, string[]>;
  /** Indexes made by CREATE INDEX, by name. */
  indexes: Record<string, Index>;
}

function kindOf(type: string): Column['kind'] {
  const t = type.toLowerCase();
  if (/int/.test(t)) return 'integer';
  if (/char|text|clob/.test(t)) return 'text';
  if (/real|floa|doub|numeric/.test(t)) return 'real';
  throw new Error(`no kind for column type ${type}`);
}

/** A partial index's predicate in one spelling for both engines: PostgreSQL's casts and ANY(ARRAY[…]) undone. */
function normalizePredicate(sql: string | null): string | null {
  if (sql === null) return null;
  let s = sql
    .replace(/::[a-z ]+/g, '')
    .replace(/= ANY \(ARRAY\[(.*?)\]\)/g, 'IN ($1)')
    .replace(/\s+/g, ' ')
    .trim();
  while (s.startsWith('(') && s.endsWith(')') && balanced(s.slice(1, -1))) s = s.slice(1, -1).trim();
  return s.toLowerCase();
}

function balanced(s: string): boolean {
  let depth = 0;
  for (const c of s) {
    depth += c === '(' ? 1 : c === ')' ? -1 : 0;
    if (depth < 0) return false;
  }
  return depth === 0;
}

function sqliteSchema(db: Database.Database): Schema {
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[];
  const schema: Schema = { tables, columns: {}, primaryKeys: {}, uniqueConstraints: {}, foreignKeys: {}, indexes: {} };
  for (const table of tables) {
    const info = db.prepare('SELECT * FROM pragma_table_info(?) ORDER BY cid').all(table) as {
      name: string;
      type: string;
      notnull: number;
      dflt_value: string | null;
      pk: number;
    }[];
    const createSql = db
      .prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
      .pluck()
      .get(table) as string;
    schema.columns[table] = info.map((c) => ({
      name: c.name,
      kind: kindOf(c.type),
      // A primary key column is NOT NULL on PostgreSQL; on SQLite only by intent (a TEXT key may hold NULL, a
      // historical quirk), which the API keeps.
      notNull: c.notnull === 1 || c.pk > 0,
      default: c.dflt_value,
      generated: c.pk > 0 && /AUTOINCREMENT/i.test(createSql) && c.type.toUpperCase() === 'INTEGER',
    }));
    schema.primaryKeys[table] = info
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
    const indexes = db.prepare('SELECT name, "unique", origin FROM pragma_index_list(?)').all(table) as {
      name: string;
      unique: number;
      origin: string;
    }[];
    const indexColumns = (name: string) =>
      (
        db.prepare('SELECT name, "desc" FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno').all(name) as {
          name: string;
          desc: number;
        }[]
      ).map((c) => (c.desc ? `${c.name} desc` : c.name));
    schema.uniqueConstraints[table] = indexes
      .filter((i) => i.origin === 'u')
      .map((i) => indexColumns(i.name).join(','))
      .sort();
    for (const index of indexes.filter((i) => i.origin === 'c')) {
      const sql = db
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?")
        .pluck()
        .get(index.name) as string;
      const where = /\bWHERE\b([\s\S]*)$/i.exec(sql)?.[1] ?? null;
      schema.indexes[index.name] = {
        table,
        columns: indexColumns(index.name),
        unique: index.unique === 1,
        where: normalizePredicate(where),
      };
    }
    const fks = db
      .prepare('SELECT id, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq')
      .all(table) as {
      id: number;
      table: string;
      from: string;
      to: string;
    }[];
    const byId = new Map<number, typeof fks>();
    for (const fk of fks) byId.set(fk.id, [...(byId.get(fk.id) ?? []), fk]);
    schema.foreignKeys[table] = [...byId.values()]
      .map(
        (parts) => `${parts.map((p) => p.from).join(',')} -> ${parts[0]!.table}(${parts.map((p) => p.to).join(',')})`,
      )
      .sort();
  }
  return schema;
}

async function postgresSchema(store: PgStore): Promise<Schema> {
  const tables = (
    await store.all<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    )
  ).map((r) => r.name);
  const schema: Schema = { tables, columns: {}, primaryKeys: {}, uniqueConstraints: {}, foreignKeys: {}, indexes: {} };
  const columns = await store.all<{
    table: string;
    name: string;
    type: string;
    nullable: string;
    dflt: string | null;
    identity: string;
  }>(
    `SELECT table_name AS "table", column_name AS name, data_type AS type, is_nullable AS nullable,
            column_default AS dflt, is_identity AS identity
       FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
  );
  const constraints = await store.all<{ table: string; type: string; columns: string; ref: string | null }>(
    `SELECT cl.relname AS "table", con.contype AS type,
            (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns,
            CASE WHEN con.contype = 'f' THEN
              rt.relname || '(' || (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                                     FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) || ')'
            END AS ref
       FROM pg_constraint con
       JOIN pg_class cl ON cl.oid = con.conrelid
       JOIN pg_namespace n ON n.oid = cl.relnamespace
       LEFT JOIN pg_class rt ON rt.oid = con.confrelid
      WHERE n.nspname = 'public' AND con.contype IN ('p', 'u', 'f')`,
  );
  const indexes = await store.all<{
    table: string;
    name: string;
    unique: boolean;
    def: string;
    predicate: string | null;
  }>(
    `SELECT t.relname AS "table", i.relname AS name, ix.indisunique AS "unique", pg_get_indexdef(ix.indexrelid) AS def,
            pg_get_expr(ix.indpred, ix.indrelid) AS predicate
       FROM pg_index ix
       JOIN pg_class i ON i.oid = ix.indexrelid
       JOIN pg_class t ON t.oid = ix.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = 'public'
        AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid AND con.conrelid = ix.indrelid)`,
  );
  for (const table of tables) {
    schema.columns[table] = columns
      .filter((c) => c.table === table)
      .map((c) => ({
        name: c.name,
        kind: kindOf(c.type),
        notNull: c.nullable === 'NO',
        default: c.dflt === null ? null : c.dflt.replace(/::[a-z ]+$/, ''),
        generated: c.identity === 'YES',
      }));
    const mine = constraints.filter((c) => c.table === table);
    schema.primaryKeys[table] = mine.find((c) => c.type === 'p')?.columns.split(',') ?? [];
    schema.uniqueConstraints[table] = mine
      .filter((c) => c.type === 'u')
      .map((c) => c.columns)
      .sort();
    schema.foreignKeys[table] = mine
      .filter((c) => c.type === 'f')
      .map((c) => `${c.columns} -> ${c.ref}`)
      .sort();
  }
  for (const index of indexes) {
    const columnList = /USING \w+ \((.*?)\)(?: WHERE .*)?$/.exec(index.def)?.[1];
    if (!columnList) throw new Error(`cannot read the columns of ${index.def}`);
    schema.indexes[index.name] = {
      table: index.table,
      columns: columnList.split(', ').map((c) => c.replace(/ DESC$/, ' desc')),
      unique: index.unique,
      where: normalizePredicate(index.predicate),
    };
  }
  return schema;
}

let sqlite: Schema;
let postgres: Schema;

beforeAll(async () => {
  const db = openDatabase(':memory:');
  try {
    sqlite = sqliteSchema(db);
  } finally {
    db.close();
  }
  const store = closeAfterFile(await openPgStore(await freshPgDatabaseUrl({ migrated: false })));
  postgres = await postgresSchema(store);
}, PG_SETUP_TIMEOUT_MS);

it('has the same tables on both engines, apart from those listed with a reason', () => {
  expect(postgres.tables.filter((t) => !sqlite.tables.includes(t))).toEqual(Object.keys(ONLY_ON_POSTGRES).sort());
  expect(sqlite.tables.filter((t) => !postgres.tables.includes(t))).toEqual(Object.keys(ONLY_ON_SQLITE).sort());
  expect(sqlite.tables.length).toBeGreaterThan(10);
});

describe('each table shared by both engines', () => {
  const shared = () => sqlite.tables.filter((t) => postgres.tables.includes(t));

  it('has the same columns, in the same order: name, kind of type, NOT NULL, default, identity', () => {
    const onlyOnPostgres: string[] = [];
    for (const table of shared()) {
      const columns = postgres.columns[table]!.filter((c) => {
        const listed = `${table}.${c.name}` in COLUMNS_ONLY_ON_POSTGRES;
        if (listed) onlyOnPostgres.push(`${table}.${c.name}`);
        return !listed;
      });
      expect({ table, columns }).toEqual({ table, columns: sqlite.columns[table] });
    }
    expect(onlyOnPostgres.sort()).toEqual(Object.keys(COLUMNS_ONLY_ON_POSTGRES).sort());
  });

  it("has SQLite's implicit rowid as an identity column on PostgreSQL where the SQL reads rowid", () => {
    for (const name of Object.keys(COLUMNS_ONLY_ON_POSTGRES)) {
      const [table, column] = name.split('.') as [string, string];
      expect(postgres.columns[table]!.find((c) => c.name === column)).toEqual({
        name: column,
        kind: 'integer',
        notNull: true,
        default: null,
        generated: true,
      });
    }
  });

  it('has the same primary key and unique constraints', () => {
    for (const table of shared()) {
      expect({ table, pk: postgres.primaryKeys[table], unique: postgres.uniqueConstraints[table] }).toEqual({
        table,
        pk: sqlite.primaryKeys[table],
        unique: sqlite.uniqueConstraints[table],
      });
    }
  });

  it('has the same foreign keys', () => {
    for (const table of shared()) {
      expect({ table, fks: postgres.foreignKeys[table] }).toEqual({ table, fks: sqlite.foreignKeys[table] });
    }
  });
});

it('has the same named indexes: table, columns and direction, uniqueness, partial-index predicate', () => {
  const onShared = (indexes: Record<string, Index>) =>
    Object.fromEntries(
      Object.entries(indexes).filter(([, i]) => sqlite.tables.includes(i.table) && postgres.tables.includes(i.table)),
    );
  const postgresOnly = Object.keys(postgres.indexes).filter((name) => !(name in sqlite.indexes));
  expect(postgresOnly.sort()).toEqual(Object.keys(INDEXES_ONLY_ON_POSTGRES).sort());
  const shared = Object.fromEntries(
    Object.entries(postgres.indexes).filter(([name]) => !(name in INDEXES_ONLY_ON_POSTGRES)),
  );
  expect(onShared(shared)).toEqual(onShared(sqlite.indexes));
  expect(Object.values(sqlite.indexes).filter((i) => i.where !== null).length).toBeGreaterThan(3);
});

it('stores unix milliseconds (*_ms) as BIGINT on PostgreSQL: INTEGER would overflow in 25 days', async () => {
  // Read again, with the exact type: the comparison above only knows kinds.
  const store = closeAfterFile(await openPgStore(await freshPgDatabaseUrl()));
  const narrow = await store.all<{ column: string }>(
    `SELECT table_name || '.' || column_name AS "column" FROM information_schema.columns
      WHERE table_schema = 'public' AND column_name LIKE '%\\_ms' AND data_type <> 'bigint'`,
  );
  expect(narrow).toEqual([]);
});

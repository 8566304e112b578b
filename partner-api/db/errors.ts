/**
 * Constraint errors, recognised the same way on both engines (ADR 0010), so the domain can tell "this row
 * already exists" or "what it points at is gone" from a bug whichever database said it.
 *
 * Judged by the error's string `code`, not by `instanceof` (see db/faults.ts for why):
 * - SQLite (better-sqlite3's SqliteError): extended result codes, https://www.sqlite.org/rescode.html. A
 *   duplicate primary key is SQLITE_CONSTRAINT_PRIMARYKEY, a duplicate in any other unique index or
 *   constraint SQLITE_CONSTRAINT_UNIQUE.
 * - PostgreSQL (node-postgres's DatabaseError): SQLSTATE, https://www.postgresql.org/docs/current/errcodes-appendix.html.
 *   Both kinds of duplicate are 23505 unique_violation; a foreign key is 23503 foreign_key_violation.
 */

/** The SQLSTATE codes PostgreSQL reports these constraint failures with. */
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether `error` is a duplicate key in a primary key, unique constraint or unique index, on either engine. */
export function isUniqueViolation(error: unknown): error is Error & { code: string } {
  const code = codeOf(error);
  return code === PG_UNIQUE_VIOLATION || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Whether `error` is a foreign key that points at no row (or a row still pointed at), on either engine. */
export function isForeignKeyViolation(error: unknown): error is Error & { code: string } {
  const code = codeOf(error);
  return code === PG_FOREIGN_KEY_VIOLATION || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

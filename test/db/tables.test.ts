import { openDatabase } from '../../partner-api/db/open';
import { TABLES } from '../support/helpers';

// The proofs hash every table in TABLES to show a refused request changed nothing; a table the migrations
// add but the list lacks would escape them.
it('test/support/helpers.ts TABLES lists every table the migrations create', () => {
  const db = openDatabase(':memory:');
  try {
    const created = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .pluck()
      .all();
    expect(created).toEqual([...TABLES].sort());
  } finally {
    db.close();
  }
});

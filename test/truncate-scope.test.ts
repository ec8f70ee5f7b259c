import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { collectStatus } from '../src/observe/status.js';
import { assertSameRows, catchUp, init, run, startPair, until, type Pair } from './support/harness.js';

/**
 * A TRUNCATE empties exactly the tables the stream names. On the source,
 * CASCADE reaches every table whose foreign key points at the truncated
 * one, and the stream lists those of the group; on the target it must never
 * reach further (a target-only table, another group's table).
 */
describe('TRUNCATE … CASCADE truncates on the target exactly the tables the stream names', () => {
  let pair: Pair;
  let config: string;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE parent (id int PRIMARY KEY, v text);
      CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent, v text);
      CREATE TABLE other_child (id int PRIMARY KEY, parent_id int REFERENCES parent);
      INSERT INTO parent SELECT i, 'p' || i FROM generate_series(1, 5) i;
      INSERT INTO child SELECT i, i, 'c' || i FROM generate_series(1, 5) i;
      INSERT INTO other_child SELECT i, i FROM generate_series(1, 5) i;`);
    // other_child belongs to another group: its own stream truncates it.
    config = await pair.config({ family: ['public.parent', 'public.child'], others: ['public.other_child'] });
    await init(config);
    // The target has a table of its own that refers to a replicated one (init creates no foreign keys).
    await pair.sql('target', `
      CREATE TABLE local_notes (id int PRIMARY KEY, child_id int REFERENCES child, note text);
      INSERT INTO local_notes SELECT i, i, 'kept' FROM generate_series(1, 3) i;`);
  });

  after(async () => {
    await pair?.stop();
  });

  test("a cascade the stream lists is applied; the target's own foreign key stops the group with both tables named, losing nothing", async () => {
    const ferry = await run(config);
    const cfg = await loadConfig(config);
    let position: string | undefined;
    try {
      await pair.sql('source', 'INSERT INTO parent VALUES (6, $1)', ['p6']);
      await catchUp(config);
      position = (await collectStatus(cfg)).find((g) => g.group === 'family')?.appliedPosition ?? undefined;
      await pair.sql('source', 'TRUNCATE parent CASCADE');
      await until('group family to stop', async () => (await collectStatus(cfg)).find((g) => g.group === 'family')?.state === 'failed');
      await until("the other group to apply its part of the cascade", async () =>
        (await pair.sql('target', 'SELECT count(*)::int AS n FROM other_child')).rows[0]?.n === 0);
    } finally {
      const errors = await ferry.stop();
      assert.equal(errors.length, 1, errors.map((e) => e.describe()).join('\n'));
      const described = errors[0]?.describe() ?? '';
      assert.match(described, /^FERRY_APPLY_TRUNCATE_REFERENCED: truncate of public\.parent, public\.child failed on the target: cannot truncate a table referenced in a foreign key constraint \(Table "local_notes" references "child"\./);
      assert.match(described, /\(group family, table public\.parent, public\.child, position [0-9A-F]+\/[0-9A-F]+\) — fix: .*drop or change that foreign key on the target/);
    }
    const status = (await collectStatus(cfg)).find((g) => g.group === 'family');
    assert.equal(status?.appliedPosition, position, 'the position did not move past the truncate');
    assert.equal((await pair.sql('target', 'SELECT count(*)::int AS n FROM local_notes')).rows[0]?.n, 3, "the target's own rows are all there");
    assert.equal((await pair.sql('target', 'SELECT count(*)::int AS n FROM child')).rows[0]?.n, 5, 'nothing of the truncate was applied');
    assert.equal((await pair.sql('target', 'SELECT count(*)::int AS n FROM other_child')).rows[0]?.n, 0, "the other group's stream truncated its own table");

    // The fix the error names: the target's foreign key goes, and the group resumes at the truncate.
    await pair.sql('target', 'ALTER TABLE local_notes DROP CONSTRAINT local_notes_child_id_fkey');
    const again = await run(config);
    try {
      await pair.sql('source', 'INSERT INTO parent VALUES (7, $1)', ['p7']);
      await catchUp(config);
    } finally {
      assert.deepEqual(await again.stop(), []);
    }
    assert.equal(await assertSameRows(pair, 'parent'), 1);
    assert.equal(await assertSameRows(pair, 'child'), 0);
    assert.equal(await assertSameRows(pair, 'other_child'), 0);
    assert.equal((await pair.sql('target', 'SELECT count(*)::int AS n FROM local_notes')).rows[0]?.n, 3, "a cascade never reaches the target's own table");
  });
});

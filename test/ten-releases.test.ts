import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { runDdl } from '../src/ddl/run-ddl.js';
import { silentLogger } from '../src/observe/logger.js';
import { assertSameRows, catchUp, cli, init, startPair, triggerConfig, until, writeUntilAborted, type Pair } from './support/harness.js';
import { schemaFingerprint } from './support/schema-fingerprint.js';
import { verifyJson } from './support/verify-json.js';

/**
 * A standby that lives through application releases: a workload keeps
 * writing while twelve schema changes ship one after another, `ferry run`
 * is killed (-9) right after applying one of them, and at the end the
 * target equals the source in rows (`ferry verify`) and in schema (columns,
 * types, NOT NULL, defaults, indexes, constraints, partitions), with no
 * manual step on the target.
 */
const variants = [
  { capture: 'wal', ddl: 'ferry ddl' }, { capture: 'trigger', ddl: 'ferry ddl' },
  { capture: 'wal', ddl: 'captured' }, { capture: 'trigger', ddl: 'captured' },
] as const;

for (const { capture, ddl } of variants) describe(`ten releases while streaming (${capture} capture, DDL by ${ddl}, PostgreSQL 18 source)`, () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE product_items (id bigint PRIMARY KEY, qty int NOT NULL, label varchar(20), note text, legacy text);
      INSERT INTO product_items SELECT i, i, 'l' || i, 'n' || i, 'x' FROM generate_series(1, 1000) i;
      CREATE TABLE product_legacy (id int PRIMARY KEY, v text);
      INSERT INTO product_legacy SELECT i, 'v' || i FROM generate_series(1, 200) i;
      CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text);
      INSERT INTO customers SELECT i, 'c' || i, i || '@example.com' FROM generate_series(1, 300) i;
      CREATE TABLE events (id bigint PRIMARY KEY, kind text) PARTITION BY RANGE (id);
      CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (100000);`);
  });

  after(async () => {
    await pair?.stop();
  });

  test('twelve schema changes under a live workload and a kill -9: rows and schema equal at the end', async () => {
    const groups = { shop: ['public.product_*', 'public.customers', 'public.events'] };
    const config = capture === 'wal' ? await pair.config(groups) : await triggerConfig(pair, groups);
    if (ddl === 'captured') await writeFile(config, (await readFile(config, 'utf8')).replace(/^source:\n/m, 'source:\n  ddl: capture\n'));
    // What the stream does not carry: recorded with ferry ddl, or plain SQL that the event trigger records.
    const explicit = (statement: string) => ddl === 'captured' ? pair.sql('source', statement) : runDdl(cfg, statement, silentLogger());
    await writeFile(config, (await readFile(config, 'utf8')).replace('apply:\n', 'apply:\n  new_table_check_ms: 300\n'));
    await init(config);
    const cfg = await loadConfig(config);
    const applied = async () => Number((await pair.sql('target', `SELECT count(*) AS n FROM ferry.schema_changes`)).rows[0]?.n);
    let ferry = cli(['run', '-c', config]);
    let killedLog = '';
    const stop = new AbortController();
    // Autocommit statements and two-table transactions; a statement the schema does not take yet (or any more) is skipped.
    const writing = writeUntilAborted(pair.source.url('app'), stop.signal, async (client, n) => {
      const tryQuery = (text: string, params: unknown[]) => client.query(text, params).catch(() => undefined);
      await client.query('BEGIN');
      await client.query(`UPDATE product_items SET qty = qty + 1 WHERE id = $1`, [1 + (n * 7) % 1000]);
      await client.query(`UPDATE customers SET name = 'w' || $1 WHERE id = $2`, [n, 1 + n % 300]);
      await client.query('COMMIT');
      await tryQuery(`INSERT INTO product_items (id, qty) VALUES ($1, $2)`, [10_000 + n, n]);
      await tryQuery(`INSERT INTO events VALUES ($1, 'w')`, [n]);
      await tryQuery(`INSERT INTO events VALUES ($1, 'p2')`, [100_000 + n]);
      await tryQuery(`UPDATE product_legacy SET v = 'w' || $1 WHERE id = $2`, [n, 1 + n % 200]);
      await tryQuery(`INSERT INTO product_reviews VALUES ($1, $2, 1 + $1 % 5) ON CONFLICT (id) DO UPDATE SET stars = 1 + (EXCLUDED.stars % 5)`, [n % 400, n]);
    });
    const releases: { what: string; run: () => Promise<unknown> }[] = [
      { what: 'add column, constant default, NOT NULL', run: () => pair.sql('source', `ALTER TABLE product_items ADD COLUMN status text NOT NULL DEFAULT 'new'`) },
      { what: 'add column with a collation', run: () => pair.sql('source', `ALTER TABLE product_items ADD COLUMN sku text COLLATE "C"`) },
      { what: 'add column, volatile default', run: () => pair.sql('source', `ALTER TABLE customers ADD COLUMN token uuid DEFAULT gen_random_uuid()`) },
      { what: 'drop column', run: () => pair.sql('source', `ALTER TABLE product_items DROP COLUMN legacy`) },
      { what: 'rename column', run: () => pair.sql('source', `ALTER TABLE product_items RENAME COLUMN note TO remark`) },
      { what: 'int to bigint', run: () => pair.sql('source', `ALTER TABLE product_items ALTER COLUMN qty TYPE bigint`) },
      { what: 'varchar(n) to text', run: () => pair.sql('source', `ALTER TABLE product_items ALTER COLUMN label TYPE text`) },
      { what: 'add NOT NULL', run: () => explicit(`ALTER TABLE customers ALTER COLUMN email SET NOT NULL`) },
      { what: 'create index', run: () => explicit(`CREATE INDEX product_items_status_idx ON product_items (status, qty)`) },
      {
        what: 'create a table matching the group pattern',
        run: () => pair.sql('source', `CREATE TABLE product_reviews (id int PRIMARY KEY, item_id bigint NOT NULL, stars int CHECK (stars BETWEEN 1 AND 5));
                                        INSERT INTO product_reviews SELECT i, i, 5 FROM generate_series(1000, 1100) i`),
      },
      { what: 'add a partition', run: () => pair.sql('source', `CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (100000) TO (200000)`) },
      { what: 'rename a table', run: () => pair.sql('source', `ALTER TABLE product_legacy RENAME TO product_archive`) },
    ];
    try {
      for (const [i, release] of releases.entries()) {
        const before = await applied();
        await release.run();
        if (release.what === 'int to bigint') {
          // Killed right after the batch with the type change committed: on restart it is neither lost nor repeated.
          await until('the type change to be applied', async () => await applied() > before);
          ferry.child.kill('SIGKILL');
          killedLog = (await ferry.result).stderr;
          ferry = cli(['run', '-c', config]);
        }
        await new Promise((r) => setTimeout(r, 100 + 25 * i));
      }
      // The renamed table is quiet for three checks for new tables: it must not be copied in again as a new one.
      await new Promise((r) => setTimeout(r, 1000));
      await pair.sql('source', `UPDATE product_archive SET v = 'renamed' WHERE id <= 10`);
      await until('product_reviews to join the group', async () =>
        ((await pair.sql('target', `SELECT tables FROM ferry.groups WHERE group_name = 'shop'`)).rows[0]?.tables as string[]).includes('public.product_reviews'), 60_000);
      stop.abort();
      assert.ok(await writing > 0);
      await catchUp(config);
      await until('customers to be copied again', async () => (await pair.sql('target', `
        SELECT NOT EXISTS (SELECT 1 FROM ferry.copy_chunks WHERE copied_at IS NULL) AND NOT EXISTS (SELECT 1 FROM ferry.held_changes) AS done`)).rows[0]?.done === true, 60_000);
      await catchUp(config);
    } catch (err) {
      ferry.child.kill('SIGTERM');
      throw new Error(`${(err as Error).message}; ferry run logged:\n${(await ferry.result).stderr.slice(-20000)}`, { cause: err });
    } finally {
      stop.abort();
      await writing.catch(() => undefined);
      ferry.child.kill('SIGTERM');
    }
    const exit = await ferry.result;
    const joined = exit.stderr.split('\n').filter((l) => /"task":"new-tables"/.test(l));
    assert.deepEqual(joined.map((l) => (JSON.parse(l) as { tables?: string[] }).tables), [['public.product_reviews']],
      `only the new table joined the group, not the renamed one: ${joined.join('\n')}`);
    assert.equal(exit.code, 0, `ferry run exits cleanly: ${exit.stderr.slice(-2000)}`);

    const { report } = await verifyJson(config);
    assert.ok(report.tables.length >= 5, `verify compared ${report.tables.map((t) => t.table).join(', ')}`);
    assert.equal(report.tables.filter((t) => !t.equal).map((t) => t.table).join(', '), '', 'ferry verify finds every table equal');
    for (const table of ['product_items', 'product_archive', 'product_reviews', 'customers', 'events']) await assertSameRows(pair, table);
    assert.ok(Number((await pair.sql('target', `SELECT count(*) AS n FROM events_2`)).rows[0]?.n) > 0, 'rows reached the new partition');

    const [source, target] = await Promise.all([schemaFingerprint(pair, 'source'), schemaFingerprint(pair, 'target')]);
    assert.deepEqual(source.tables, ['customers', 'events', 'events_1', 'events_2', 'product_archive', 'product_items', 'product_reviews']);
    assert.equal(target.text, source.text, 'the target\'s schema equals the source\'s');
    const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);
    console.log(`schema fingerprint (${capture} capture, DDL by ${ddl}): source ${digest(source.text)}, target ${digest(target.text)}\n${target.text}`);

    // Each change recorded once, despite the kill -9.
    const recorded = (await pair.sql('target', `SELECT statement, count(*) AS n FROM ferry.schema_changes GROUP BY statement ORDER BY min(id)`)).rows;
    const log = (await pair.sql('target', `SELECT position, table_name, statement FROM ferry.schema_changes ORDER BY id`)).rows.map((r) => `${r.position} ${r.statement}`);
    if (ddl === 'captured') {
      // Every layout change is announced in the stream: trigger capture reads every queued row exactly, without copying a table again.
      const unread = `${killedLog}${exit.stderr}`.split('\n').filter((l) => l.includes('cannot be read'));
      assert.deepEqual(unread, [], 'no queued row was unreadable');
    }
    assert.deepEqual(recorded.filter((r) => Number(r.n) !== 1), [], `no schema change applied twice:\n${log.join('\n')}`);
    const statements = recorded.map((r) => r.statement as string);
    for (const expected of [/ADD COLUMN "status" text DEFAULT/, /ADD COLUMN "token" uuid DEFAULT gen_random_uuid\(\)/, /DROP COLUMN "legacy"/,
      /RENAME COLUMN "note" TO "remark"/, /ALTER COLUMN "qty" TYPE bigint/, /ALTER COLUMN "label" TYPE text/, /SET NOT NULL/,
      /CREATE INDEX product_items_status_idx/, /RENAME TO "product_archive"/]) {
      assert.ok(statements.some((s) => expected.test(s)), `ferry.schema_changes records ${expected}: ${statements.join('; ')}`);
    }
  });
});

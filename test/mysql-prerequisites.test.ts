import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { startMariaDb, type MariaDb } from '../src/embedded/mariadb.js';
import type { FerryError } from '../src/errors.js';
import { connectionOptions } from '../src/source/mysql-binlog/binlog-connection.js';
import { openConsistentSnapshot } from '../src/source/mysql-binlog/consistent-snapshot.js';
import { GrantSet } from '../src/source/mysql-binlog/mysql-grants.js';
import { checkBinlogSource, describePrerequisite, type MySqlPrerequisites, type MySqlTableName } from '../src/source/mysql-binlog/mysql-prerequisites.js';

/*
 * The binlog source's prerequisites against a real MariaDB 10.11: one
 * server for the file; server settings a test changes are dynamic (SET
 * GLOBAL) and put back by the test.
 */

let db: MariaDb;

before(async () => {
  db = await startMariaDb();
  await db.query(`CREATE DATABASE app;
    CREATE TABLE app.good (id INT PRIMARY KEY, v TEXT) ENGINE = InnoDB;
    CREATE TABLE app.by_unique (a INT NOT NULL, b INT NOT NULL, UNIQUE KEY ab (a, b)) ENGINE = InnoDB;
    CREATE TABLE app.no_key (a INT, b INT NULL, UNIQUE KEY b (b)) ENGINE = InnoDB;
    CREATE TABLE app.myisam (id INT PRIMARY KEY) ENGINE = MyISAM;
    CREATE TABLE app.squeezed (id INT PRIMARY KEY, v VARCHAR(100) COMPRESSED);
    CREATE VIEW app.a_view AS SELECT id FROM app.good`);
});

after(async () => {
  await db?.stop();
});

async function check(tables: readonly MySqlTableName[], url = db.url()): Promise<MySqlPrerequisites> {
  const connection = await mysql.createConnection(connectionOptions(url));
  try {
    return await checkBinlogSource(connection, tables);
  } finally {
    await connection.end();
  }
}

const codes = (r: MySqlPrerequisites, which: 'problems' | 'warnings' = 'problems') => r[which].map((p) => p.code).sort();
const table = (name: string, database = 'app'): MySqlTableName => ({ database, name });

/** Sets global variables for the callback and puts them back after. */
async function withGlobals(settings: Record<string, string>, body: () => Promise<void>): Promise<void> {
  const names = Object.keys(settings);
  const [before] = await db.query<Record<string, string>[]>(`SELECT ${names.map((n) => `@@global.${n} AS ${n}`).join(', ')}`);
  await db.query(names.map((n) => `SET GLOBAL ${n} = ${settings[n]}`).join('; '));
  try {
    await body();
  } finally {
    // Numbers (booleans read as 0/1 too) unquoted, words quoted.
    const sql = (v: unknown) => (/^-?\d+(\.\d+)?$/.test(String(v)) ? String(v) : `'${String(v)}'`);
    await db.query(names.map((n) => `SET GLOBAL ${n} = ${sql(before?.[n])}`).join('; '));
  }
}

describe('binlog source prerequisites against MariaDB', () => {
  test('a correctly configured server and well-formed tables pass, with no warnings', async () => {
    const r = await check([table('good'), table('by_unique')]);
    assert.equal(r.flavor, 'mariadb');
    assert.deepEqual(r.problems.map(describePrerequisite), []);
    assert.deepEqual(r.warnings.map(describePrerequisite), []);
  });

  test('the replication user the harness creates has every privilege a binlog source needs', async () => {
    const r = await check([table('good')], db.url('', 'replication'));
    assert.deepEqual(r.problems.map(describePrerequisite), []);
  });

  test('a user without privileges gets each privilege problem, each fix a GRANT naming the user', async () => {
    await db.query(`CREATE USER 'nobody'@'127.0.0.1' IDENTIFIED BY 'pw'`);
    const r = await check([table('good'), table('by_unique')], `mysql://nobody:pw@127.0.0.1:${db.port}/`);
    // Without SELECT the tables are invisible too: each is reported missing.
    assert.deepEqual(codes(r), ['FERRY_MYSQL_PRIVILEGE_BINLOG_STATUS', 'FERRY_MYSQL_PRIVILEGE_REPLICATION_SLAVE', 'FERRY_MYSQL_PRIVILEGE_SELECT',
      'FERRY_MYSQL_TABLE_MISSING', 'FERRY_MYSQL_TABLE_MISSING']);
    const fix = (code: string) => r.problems.find((p) => p.code === code)?.fix;
    assert.equal(fix('FERRY_MYSQL_PRIVILEGE_REPLICATION_SLAVE'), "GRANT REPLICATION SLAVE ON *.* TO 'nobody'@'127.0.0.1';");
    assert.equal(fix('FERRY_MYSQL_PRIVILEGE_BINLOG_STATUS'), "GRANT BINLOG MONITOR ON *.* TO 'nobody'@'127.0.0.1';");
    assert.match(fix('FERRY_MYSQL_PRIVILEGE_SELECT') ?? '', /^GRANT SELECT ON `app`\.\* TO 'nobody'@'127\.0\.0\.1';/);
    assert.match(r.problems.find((p) => p.code === 'FERRY_MYSQL_PRIVILEGE_SELECT')?.what ?? '', /app\.good, app\.by_unique/);

    // Each fix, applied as written, clears its problem.
    await db.query(r.problems.filter((p) => p.code.startsWith('FERRY_MYSQL_PRIVILEGE')).map((p) => (p.fix.split(';')[0] as string)).join('; '));
    const fixed = await check([table('good'), table('by_unique')], `mysql://nobody:pw@127.0.0.1:${db.port}/`);
    assert.deepEqual(fixed.problems.map(describePrerequisite), []);
  });

  test('database-level, ALL PRIVILEGES, wildcard-database (`_` any one character, `\\_` itself) and table-level grants each cover a table; a column grant does not', async () => {
    await db.query(`CREATE USER 'partial'@'127.0.0.1' IDENTIFIED BY 'pw';
      GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'partial'@'127.0.0.1';
      GRANT SELECT (id) ON app.good TO 'partial'@'127.0.0.1'`);
    const url = `mysql://partial:pw@127.0.0.1:${db.port}/`;
    const before = await check([table('good')], url);
    assert.deepEqual(codes(before), ['FERRY_MYSQL_PRIVILEGE_SELECT'], before.problems.map(describePrerequisite).join('\n'));
    await db.query(`GRANT ALL PRIVILEGES ON \`ap\\_%\`.* TO 'partial'@'127.0.0.1'; GRANT ALL PRIVILEGES ON \`app_x\`.* TO 'partial'@'127.0.0.1'`);
    assert.deepEqual(codes(await check([table('good')], url)), ['FERRY_MYSQL_PRIVILEGE_SELECT'], "`ap\\_%` and `app_x` do not match app");
    await db.query(`GRANT ALL PRIVILEGES ON \`a_p\`.* TO 'partial'@'127.0.0.1'`);
    assert.deepEqual(codes(await check([table('good')], url)), []);

    const grants = GrantSet.parse([
      'GRANT USAGE ON *.* TO `u`@`%`',
      'GRANT SELECT, INSERT ON `shop`.`orders` TO `u`@`%`',
      'GRANT LOCK TABLES, SELECT ON `sales`.* TO `u`@`%`',
      'GRANT SELECT (`a`, `b`), UPDATE ON `shop`.`items` TO `u`@`%`',
      'GRANT `reader`@`%` TO `u`@`%`',
      'GRANT BACKUP_ADMIN,REPLICATION_SLAVE_ADMIN ON *.* TO `u`@`%`',
    ]);
    assert.equal(grants.hasOnTable('SELECT', 'shop', 'orders'), true);
    assert.equal(grants.hasOnTable('SELECT', 'shop', 'items'), false);
    assert.equal(grants.hasOnTable('LOCK TABLES', 'sales', 'x'), true);
    assert.equal(grants.hasOnTable('LOCK TABLES', 'shop', 'orders'), false);
    assert.equal(grants.hasGlobal('BACKUP_ADMIN'), true);
    assert.equal(grants.hasGlobal('RELOAD'), false);
    assert.equal(GrantSet.parse(['GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION']).hasGlobal('RELOAD'), true);
  });

  test('a table without a usable key is a problem; a unique key over nullable columns is not a key', async () => {
    const r = await check([table('no_key')]);
    assert.deepEqual(codes(r), ['FERRY_MYSQL_TABLE_NO_KEY']);
    assert.match(r.problems[0]?.fix ?? '', /ALTER TABLE `app`\.`no_key` ADD PRIMARY KEY/);
  });

  test('a foreign key whose action changes the table\'s rows (CASCADE, SET NULL) is a problem: InnoDB does not log those rows', async () => {
    await db.query(`CREATE TABLE app.fk_parent (id INT PRIMARY KEY);
      CREATE TABLE app.fk_cascade (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES app.fk_parent (id) ON DELETE CASCADE);
      CREATE TABLE app.fk_setnull (id INT PRIMARY KEY, p INT, CONSTRAINT to_parent FOREIGN KEY (p) REFERENCES app.fk_parent (id) ON UPDATE SET NULL);
      CREATE TABLE app.fk_restrict (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES app.fk_parent (id))`);
    const r = await check([table('fk_parent'), table('fk_cascade'), table('fk_setnull'), table('fk_restrict')]);
    assert.deepEqual(codes(r), ['FERRY_MYSQL_FOREIGN_KEY_ACTION', 'FERRY_MYSQL_FOREIGN_KEY_ACTION']);
    assert.match(r.problems[0]?.what ?? '', /app\.fk_cascade has foreign key \S+ to app\.fk_parent with ON DELETE CASCADE/);
    assert.match(r.problems[1]?.what ?? '', /app\.fk_setnull has foreign key to_parent to app\.fk_parent with ON UPDATE SET NULL/);
    assert.match(r.problems[1]?.fix ?? '', /RESTRICT/);
  });

  test('a MyISAM table is a warning, not a problem: it has no consistent snapshot', async () => {
    const r = await check([table('myisam')]);
    assert.deepEqual(codes(r), []);
    assert.deepEqual(codes(r, 'warnings'), ['FERRY_MYSQL_TABLE_ENGINE']);
    assert.match(r.warnings[0]?.fix ?? '', /ENGINE = InnoDB/);
  });

  test('a missing table, a view, a COMPRESSED column and a fractional MariaDB 5.3 DATETIME are each a problem', async () => {
    await withGlobals({ mysql56_temporal_format: 'OFF' }, async () => {
      await db.query('CREATE TABLE app.old_times (id INT PRIMARY KEY, at DATETIME(3), plain DATETIME)');
    });
    const r = await check([table('nope'), table('a_view'), table('squeezed'), table('old_times')]);
    assert.deepEqual(codes(r), ['FERRY_MYSQL_COLUMN_COMPRESSED', 'FERRY_MYSQL_COLUMN_OLD_TEMPORAL', 'FERRY_MYSQL_TABLE_MISSING', 'FERRY_MYSQL_TABLE_NOT_TABLE']);
    const old = r.problems.find((p) => p.code === 'FERRY_MYSQL_COLUMN_OLD_TEMPORAL');
    assert.match(old?.what ?? '', /column at of app\.old_times is a datetime\(3\)/);
    // The fix, applied as written, clears it (the old format without fractions, column plain, is read fine).
    await db.query(`${old?.fix.split(';')[0]}`);
    assert.deepEqual(codes(await check([table('old_times')])), []);
  });

  test('binlog_format = STATEMENT, binlog_row_image = MINIMAL and binlog_row_metadata = MINIMAL are each a problem, all reported at once', async () => {
    await withGlobals({ binlog_format: "'STATEMENT'", binlog_row_image: "'MINIMAL'", binlog_row_metadata: "'MINIMAL'" }, async () => {
      const r = await check([table('good')]);
      assert.deepEqual(codes(r), ['FERRY_MYSQL_BINLOG_FORMAT', 'FERRY_MYSQL_BINLOG_ROW_IMAGE', 'FERRY_MYSQL_BINLOG_ROW_METADATA']);
      assert.match(r.problems.find((p) => p.code === 'FERRY_MYSQL_BINLOG_FORMAT')?.fix ?? '', /^SET GLOBAL binlog_format = 'ROW'/);
    });
    await withGlobals({ binlog_format: "'MIXED'" }, async () => {
      assert.deepEqual(codes(await check([table('good')])), ['FERRY_MYSQL_BINLOG_FORMAT']);
    });
  });

  test('a server started without a binary log is a problem, and a snapshot on it fails with the same code', async () => {
    const unlogged = await startMariaDb({ settings: { 'skip-log-bin': '' } });
    try {
      await unlogged.query('CREATE DATABASE app; CREATE TABLE app.good (id INT PRIMARY KEY)');
      const connection = await mysql.createConnection(connectionOptions(unlogged.url()));
      try {
        const r = await checkBinlogSource(connection, [table('good')]);
        assert.deepEqual(codes(r), ['FERRY_MYSQL_LOG_BIN']);
        assert.match(r.problems[0]?.fix ?? '', /log_bin = mariadb-bin/);
      } finally {
        await connection.end();
      }
      await assert.rejects(openConsistentSnapshot(unlogged.url(), { workers: 1, tables: [table('good')] }),
        (err: FerryError) => err.code === 'FERRY_MYSQL_LOG_BIN');
    } finally {
      await unlogged.stop();
    }
  });

  test('short binlog retention and gtid_strict_mode = OFF are warnings naming the setting to change', async () => {
    await withGlobals({ binlog_expire_logs_seconds: '3600', gtid_strict_mode: 'OFF' }, async () => {
      const r = await check([table('good')]);
      assert.deepEqual(codes(r), []);
      assert.deepEqual(codes(r, 'warnings'), ['FERRY_MYSQL_BINLOG_RETENTION', 'FERRY_MYSQL_GTID_STRICT_MODE']);
      const retention = r.warnings.find((w) => w.code === 'FERRY_MYSQL_BINLOG_RETENTION');
      assert.match(retention?.what ?? '', /1 hours/);
      assert.match(retention?.fix ?? '', /binlog_expire_logs_seconds = 86400/);
      assert.match(retention?.fix ?? '', /rds_set_configuration\('binlog retention hours', 24\)/);
    });
    await withGlobals({ binlog_expire_logs_seconds: '172800' }, async () => {
      assert.deepEqual(codes(await check([table('good')]), 'warnings'), []);
    });
  });
});

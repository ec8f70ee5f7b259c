import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, ExitCode } from '../src/errors.js';
import { interpolateEnv, formatKeyPath } from '../src/config/interpolate.js';
import { loadConfig, parseConfig } from '../src/config/load.js';
import { redactUrl } from '../src/config/redact.js';
import { formatTableRef, parseSize, parseTableRef, sameDatabase } from '../src/config/schema.js';

const PASSWORD = 'S3cr3t:pw#x';
const SOURCE = `postgres://ferry:${encodeURIComponent(PASSWORD)}@src.example:5432/app`;
const TARGET = `postgres://ferry:${encodeURIComponent(PASSWORD)}@dst.example:5433/app`;

/** A valid file, plus whatever extra YAML lines a test wants. */
function yaml(groups = '  - name: orders\n    tables: [public.orders]', extra = ''): string {
  return `source:\n  url: "${SOURCE}"\ntarget:\n  url: "${TARGET}"\ngroups:\n${groups}\n${extra}`;
}

/** Parses `text`, expects a ConfigError, and returns its message for further checks. */
function fails(text: string, env: NodeJS.ProcessEnv = {}, ...expected: (string | RegExp)[]): string {
  let error: unknown;
  try {
    parseConfig(text, 'ferry.yaml', env);
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
  assert.equal(error.exitCode, ExitCode.usage);
  for (const e of expected) {
    if (typeof e === 'string') assert.ok(error.message.includes(e), `${JSON.stringify(e)} not in:\n${error.message}`);
    else assert.match(error.message, e);
  }
  for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), 'S3cr3t']) {
    assert.ok(!error.message.includes(secret) && !error.describe().includes(secret), `password leaked:\n${error.message}`);
  }
  return error.message;
}

describe('parseConfig: defaults and shape', () => {
  it('fills in every default for a minimal file', () => {
    const cfg = parseConfig(yaml(), 'ferry.yaml', {});
    assert.deepEqual(cfg, {
      source: { url: SOURCE, capture: 'wal', ddl: 'off' },
      target: { url: TARGET },
      groups: [{
        name: 'orders',
        tables: [{ schema: 'public', table: 'orders', pattern: false }],
        slot: 'ferry_orders',
        publication: 'ferry_orders',
        schemaChanges: 'apply',
      }],
      apply: {
        batchMaxRows: 10_000,
        batchMaxBytes: 67_108_864,
        batchMaxDelayMs: 200,
        statusIntervalMs: 10_000,
        spillDir: os.tmpdir(),
        retryInitialMs: 1_000,
        retryMaxMs: 30_000,
        retryAttempts: 10,
        lockTimeoutMs: 60_000,
        newTableCheckMs: 10_000,
        binaryTransfer: true,
      },
      copy: { parallel: 4, chunkBytes: 67_108_864 },
      sequences: { syncIntervalMs: 60_000, headroom: 1_000 },
      observe: { listen: undefined, pollIntervalMs: 5_000, lagWarnSeconds: 60, lagLimitSeconds: 300, slotWarnShare: 0.5, queueWarnEvents: 1_000_000 },
      log: { level: 'info', format: 'auto' },
    });
  });

  it('maps every snake_case key to camelCase', () => {
    const cfg = parseConfig(yaml('  - name: orders\n    tables: [public.orders]\n    slot: s1\n    publication: p1\n    schema_changes: stop', [
      'apply:',
      '  batch_max_rows: 5', '  batch_max_bytes: 512kB', '  batch_max_delay_ms: 0', '  status_interval_ms: 500',
      '  spill_dir: /var/spool/ferry', '  retry_initial_ms: 10', '  retry_max_ms: 20', '  retry_attempts: 3', '  lock_timeout_ms: 0', '  binary_transfer: false', '  new_table_check_ms: 0',
      'copy:\n  parallel: 64',
      'sequences:\n  sync_interval_ms: 250\n  headroom: 0',
      'observe:\n  listen: "[::1]:9187"\n  poll_interval_ms: 1000\n  lag_warn_seconds: 30\n  lag_limit_seconds: 90.5\n  slot_warn_share: 0.8\n  queue_warn_events: 500',
      'log:\n  level: debug\n  format: json',
    ].join('\n')).replace('  url: "postgres://ferry', '  capture: trigger\n  ddl: capture\n  url: "postgres://ferry'), 'ferry.yaml', {});
    assert.equal(cfg.source.capture, 'trigger');
    assert.equal(cfg.source.ddl, 'capture');
    assert.deepEqual(cfg.groups[0], { name: 'orders', tables: [{ schema: 'public', table: 'orders', pattern: false }], slot: 's1', publication: 'p1', schemaChanges: 'stop' });
    assert.deepEqual(cfg.apply, {
      batchMaxRows: 5, batchMaxBytes: 524_288, batchMaxDelayMs: 0, statusIntervalMs: 500,
      spillDir: '/var/spool/ferry', retryInitialMs: 10, retryMaxMs: 20, retryAttempts: 3, lockTimeoutMs: 0, binaryTransfer: false, newTableCheckMs: 0,
    });
    assert.deepEqual(cfg.copy, { parallel: 64, chunkBytes: 67_108_864 });
    assert.deepEqual(cfg.sequences, { syncIntervalMs: 250, headroom: 0 });
    assert.deepEqual(cfg.log, { level: 'debug', format: 'json' });
    assert.deepEqual(cfg.observe, { listen: '[::1]:9187', pollIntervalMs: 1000, lagWarnSeconds: 30, lagLimitSeconds: 90.5, slotWarnShare: 0.8, queueWarnEvents: 500 });
  });

  it('rejects an observe.listen that is not HOST:PORT and a slot_warn_share outside (0, 1]', () => {
    fails(yaml() + 'observe:\n  listen: 9187\n', {}, 'observe.listen: ');
    fails(yaml() + 'observe:\n  listen: "localhost"\n', {}, 'observe.listen: must be HOST:PORT');
    fails(yaml() + 'observe:\n  slot_warn_share: 1.5\n', {}, 'observe.slot_warn_share: must be a share above 0 and at most 1');
  });
});

describe('parseConfig: validation errors name the file and key path', () => {
  it('reports missing required keys', () => {
    fails('source:\n  capture: wal\n', {}, 'ferry.yaml: source.url: is required', 'ferry.yaml: target: is required', 'ferry.yaml: groups: is required');
    fails('source:\n  url:\ntarget: {url: x}\ngroups: []', {}, 'source.url: is empty', 'groups: must define at least one group');
    fails(yaml('  - tables: [public.t]'), {}, 'groups[0].name: is required');
    fails(yaml('  - name: a'), {}, 'groups[0].tables: is required');
    fails(yaml('  - name: a\n    tables: []'), {}, 'groups[0].tables: must list at least one table');
  });

  it('reports an empty file and a top level that is not a mapping', () => {
    fails('# nothing here\n', {}, 'ferry.yaml: the file is empty');
    fails('- a\n- b\n', {}, 'ferry.yaml: (top level): must be a mapping');
  });

  it('rejects unknown keys anywhere, suggesting the intended one', () => {
    const message = fails(yaml(undefined, 'apply:\n  batchMaxRows: 5\nlogging: {}'), {},
      'ferry.yaml: apply.batchMaxRows: unknown key; did you mean batch_max_rows?',
      'ferry.yaml: logging: unknown key');
    assert.equal(message.split('\n').length, 2, 'one line per issue');
    fails(yaml('  - name: a\n    tables: [public.t]\n    slots: x'), {}, 'groups[0].slots: unknown key; did you mean slot?');
    fails(yaml('  - name: a\n    tables: [public.t]\n    schema_changes: ignore'), {}, 'groups[0].schema_changes: must be apply (follow the source\'s column changes on the target) or stop');
    fails(yaml(undefined, 'copy:\n  paralel: 2'), {}, 'copy.paralel: unknown key; did you mean parallel?');
    fails(yaml().replace('target:', 'target:\n  password: x'), {}, 'target.password: unknown key');
  });

  it('validates group, slot and publication names', () => {
    fails(yaml('  - name: Orders\n    tables: [public.t]'), {}, 'groups[0].name: must start with a lower-case letter');
    fails(yaml(`  - name: ${'a'.repeat(41)}\n    tables: [public.t]`), {}, 'groups[0].name:');
    fails(yaml('  - name: a\n    tables: [public.t]\n    slot: Bad-Slot'), {}, 'groups[0].slot: is not a valid replication slot name');
    fails(yaml(`  - name: a\n    tables: [public.t]\n    slot: ${'s'.repeat(64)}`), {}, 'groups[0].slot:');
    fails(yaml('  - name: a\n    tables: [public.t]\n    publication: "my pub"'), {}, 'groups[0].publication: is not a valid publication name');
  });

  it('validates enums, integers and ranges', () => {
    fails(yaml().replace('target:', '  capture: logical\ntarget:'), {}, 'source.capture: "logical" is not one of: wal, trigger, binlog');
    fails(yaml().replace('target:', '  ddl: on\ntarget:'), {}, 'source.ddl: must be capture (an event trigger records DDL of replicated tables in their stream; needs a superuser or rds_superuser) or off');
    fails(yaml(undefined, 'log:\n  level: verbose\n  format: xml'), {}, 'log.level: "verbose" is not one of', 'log.format: "xml" is not one of: auto, json, pretty');
    fails(yaml(undefined, 'copy:\n  parallel: 0'), {}, 'copy.parallel: must be at least 1');
    fails(yaml(undefined, 'copy:\n  parallel: 65'), {}, 'copy.parallel: must be at most 64');
    fails(yaml(undefined, 'apply:\n  batch_max_rows: 1.5'), {}, 'apply.batch_max_rows: must be a whole number');
    fails(yaml(undefined, 'apply:\n  batch_max_rows: many'), {}, 'apply.batch_max_rows: must be a number, not a string');
    fails(yaml(undefined, 'apply:\n  status_interval_ms: 0'), {}, 'apply.status_interval_ms: must be at least 1');
    fails(yaml(undefined, 'apply:\n  batch_max_bytes: 12 parsecs'), {}, 'apply.batch_max_bytes: must be a positive byte count');
    fails(yaml(undefined, 'apply:\n  retry_initial_ms: 5000\n  retry_max_ms: 100'), {}, 'apply.retry_max_ms: must be at least apply.retry_initial_ms (5000)');
    fails(yaml(undefined, 'copy: 4'), {}, 'copy: must be a mapping (key: value), not a number');
    fails(yaml(undefined, 'sequences:\n  sync_interval_ms: 0\n  headroom: -1'), {},
      'sequences.sync_interval_ms: must be at least 1', 'sequences.headroom: must be at least 0');
    fails(yaml(undefined, 'sequences:\n  head_room: 5'), {}, 'sequences.head_room: unknown key; did you mean headroom?');
  });

  it('reports every issue at once, one per line', () => {
    const message = fails(yaml('  - name: A\n    tables: [orders]', 'copy:\n  parallel: 99\nlog:\n  level: loud'));
    const lines = message.split('\n');
    assert.equal(lines.length, 4);
    for (const line of lines) assert.match(line, /^ferry\.yaml: [a-z]/);
    assert.match(message, /groups\[0\]\.tables\[0\]: "orders" must be schema-qualified, e\.g\. public\.orders/);
  });

  it('rejects duplicate group names, slots and publications', () => {
    fails(yaml('  - name: a\n    tables: [public.t]\n  - name: a\n    tables: [public.u]'), {},
      'groups[1].name: group "a" is defined twice (first at groups[0])');
    fails(yaml('  - name: a\n    tables: [public.t]\n  - name: b\n    tables: [public.u]\n    slot: ferry_a'), {},
      'groups[1].slot: slot "ferry_a" is also used by group "a" (groups[0])');
    fails(yaml('  - name: a\n    tables: [public.t]\n    publication: pub\n  - name: b\n    tables: [public.u]\n    publication: pub'), {},
      'groups[1].publication: publication "pub" is also used by group "a" (groups[0])');
  });

  it('rejects the same literal table in two groups, naming both', () => {
    fails(yaml('  - name: a\n    tables: [public.t, public.u]\n  - name: b\n    tables: [x.y, PUBLIC.U]'), {},
      'groups[1].tables[1]: table public.u is in both group "a" (groups[0].tables[1]) and group "b"');
    fails(yaml('  - name: a\n    tables: [public.t, public.T]'), {}, 'groups[0].tables[1]: table public.t is listed twice in group "a"');
    // Patterns may overlap; they are resolved against the catalogue later.
    parseConfig(yaml('  - name: a\n    tables: [public.t]\n  - name: b\n    tables: [public.*]'), 'ferry.yaml', {});
    // Quoted "T" and unquoted t are different tables.
    parseConfig(yaml('  - name: a\n    tables: [public.t]\n  - name: b\n    tables: [\'public."T"\']'), 'ferry.yaml', {});
  });

  it('rejects source and target that are the same database, without showing either URL', () => {
    const same = (src: string, dst: string) => yaml().replace(SOURCE, src).replace(TARGET, dst);
    fails(same(SOURCE, SOURCE), {}, 'target.url: names the same database as source.url');
    fails(same(`postgres://ferry:${PASSWORD}@SRC.example/app`, `postgresql://other:${PASSWORD}@src.example:5432/app?sslmode=require`), {}, 'target.url:');
    parseConfig(same(SOURCE, SOURCE.replace(':5432/', ':5433/')), 'ferry.yaml', {});
    parseConfig(same(SOURCE, SOURCE.replace('/app', '/app2')), 'ferry.yaml', {});
  });

  it('rejects a url that is not a postgres URL without quoting it', () => {
    fails(yaml().replace(SOURCE, `redis://root:${PASSWORD}@h/db`), {}, 'source.url: must be a postgres://, mysql:// or mariadb:// URL');
    fails(yaml().replace(TARGET, `mysql://root:${PASSWORD}@h/db`), {}, 'target.url: must be a postgres://');
    fails(yaml().replace(`"${TARGET}"`, '5'), {}, 'target.url: must be a string, not a number');
  });

  it('a mysql:// or mariadb:// source is read with capture binlog, and only such a source', () => {
    const mysqlSource = (extra = '') => yaml('  - name: orders\n    tables: [app.orders]').replace(`url: "${SOURCE}"`, `url: "mysql://ferry:${encodeURIComponent(PASSWORD)}@my.example/app"${extra}`);
    const parsed = parseConfig(mysqlSource(), 'ferry.yaml', {});
    assert.equal(parsed.source.capture, 'binlog');
    assert.equal(parsed.source.mysql, undefined);
    assert.equal(parseConfig(yaml(), 'ferry.yaml', {}).source.capture, 'wal');
    const mapped = parseConfig(mysqlSource(`\n  mysql:\n    schemas: { app: public }\n    type_map: { tinyint1_as_boolean: true, zero_dates: "null" }\n    snapshot_lock: lock-tables\n    server_id: 4100`), 'ferry.yaml', {});
    assert.deepEqual(mapped.source.mysql, {
      schemas: { app: 'public' },
      typeMap: { tinyint1_as_boolean: true, zero_dates: 'null', nul_bytes: 'error', invalid_text: 'error', enum_invalid: 'error' },
      snapshotLock: 'lock-tables', serverId: 4100,
    });
    fails(mysqlSource('\n  capture: wal'), {}, 'source.capture: is wal, which reads a PostgreSQL source; a mysql:// or mariadb:// source is read with capture binlog');
    fails(mysqlSource('\n  ddl: capture'), {}, 'source.ddl: capture needs a PostgreSQL source');
    fails(mysqlSource('\n  mysql:\n    type_map: { zero_dates: zero }'), {}, 'source.mysql.type_map.zero_dates:');
    fails(mysqlSource('\n  mysql:\n    snapshot_lock: global'), {}, 'source.mysql.snapshot_lock: must be auto, none (MariaDB only)');
    fails(yaml().replace('target:', '  capture: binlog\ntarget:'), {}, 'source.capture: is binlog, which reads a MySQL or MariaDB source');
    fails(yaml().replace('target:', '  mysql: {}\ntarget:'), {}, 'source.mysql: applies to a mysql:// or mariadb:// source only');
  });
});

describe('YAML syntax and files', () => {
  it('reports YAML syntax errors with line and column, without the source line', () => {
    fails(`source:\n  url: "${SOURCE}"\ntarget:\n  url: [${TARGET}\n`, {}, /^ferry\.yaml:\d+:\d+: YAML syntax error: /);
    fails('source:\n  url: a\n   bad: : x\n', {}, /ferry\.yaml:3:\d+: YAML syntax error/);
    const escape = fails('source:\n  url: "postgres://u:p\\xS3cr3t@h/db"\n', {}, /^ferry\.yaml:2:\d+: YAML syntax error: invalid escape sequence/);
    assert.ok(!escape.includes('\\x'), escape);
    fails(`source: {url: "${SOURCE}"}\nsource: {}\n`, {}, /ferry\.yaml:2:1: YAML syntax error: Map keys must be unique/);
  });

  it('loads a file, and says so when the file is missing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-config-'));
    try {
      const file = path.join(dir, 'ferry.yaml');
      await writeFile(file, yaml('  - name: a\n    tables: [public.t]', 'copy:\n  parallel: ${PAR}'));
      const cfg = await loadConfig(file, { PAR: '8' });
      assert.equal(cfg.copy.parallel, 8);
      await assert.rejects(loadConfig(path.join(dir, 'nope.yaml'), {}),
        (err: unknown) => err instanceof ConfigError && err.message === `${path.join(dir, 'nope.yaml')}: configuration file not found`);
      await assert.rejects(loadConfig(dir, {}), (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${dir}: `));
      await writeFile(file, 'groups: 1\n');
      await assert.rejects(loadConfig(file, {}), (err: unknown) => err instanceof ConfigError && err.message.includes(`${file}: groups: must be a list`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('environment interpolation', () => {
  it('substitutes variables in string values after parsing, so YAML-special characters are safe', () => {
    const tricky = `p@ss: #word" 'x' {y} [z] \${NOT_A_REF}`;
    const text = yaml().replace(SOURCE, 'postgres://ferry:${PGPASS}@src.example/app');
    const cfg = parseConfig(text, 'ferry.yaml', { PGPASS: tricky });
    assert.equal(cfg.source.url, `postgres://ferry:${tricky}@src.example/app`);
  });

  it('uses defaults, treats an empty variable like an unset one there, and honours the $${ escape', () => {
    const text = yaml('  - name: ${GROUP:-orders}\n    tables: ["${SCHEMA:-public}.orders"]\n    publication: ${PUB}',
      'apply:\n  spill_dir: "$${HOME}/spill"\n  batch_max_rows: ${ROWS:-42}\n  batch_max_bytes: ${BYTES:-1GB}');
    const cfg = parseConfig(text, 'ferry.yaml', { SCHEMA: '', PUB: 'pub_x' });
    assert.equal(cfg.groups[0]?.name, 'orders');
    assert.deepEqual(cfg.groups[0]?.tables, [{ schema: 'public', table: 'orders', pattern: false }]);
    assert.equal(cfg.groups[0]?.publication, 'pub_x');
    assert.equal(cfg.apply.spillDir, '${HOME}/spill');
    assert.equal(cfg.apply.batchMaxRows, 42);
    assert.equal(cfg.apply.batchMaxBytes, 2 ** 30);
  });

  it('reports each unset variable with the key path that uses it', () => {
    const text = yaml().replace(SOURCE, `postgres://ferry:\${PGPASS}@src.example/app?x=${PASSWORD}`)
      .replace('public.orders', '"${SCHEMA}.orders"');
    const message = fails(text, {}, 'ferry.yaml: source.url uses ${PGPASS}, which is not set',
      'ferry.yaml: groups[0].tables[0] uses ${SCHEMA}, which is not set');
    assert.equal(message.split('\n').length, 2);
  });

  it('reports a malformed reference without quoting the value', () => {
    fails(yaml().replace(SOURCE, `postgres://ferry:\${PG-PASS}${PASSWORD}@h/app`), {}, 'source.url has a malformed ${...} reference');
    fails(yaml().replace(SOURCE, `postgres://ferry:\${PGPASS${PASSWORD}`), {}, 'source.url has a malformed');
  });

  it('leaves keys, numbers and lone dollars alone', () => {
    assert.deepEqual(interpolateEnv({ '${K}': ['a$b', '$$x', 5, true, null, { n: '${A}${B:-b}' }] }, { A: 'a' }),
      { '${K}': ['a$b', '$$x', 5, true, null, { n: 'ab' }] });
  });

  it('formats key paths', () => {
    assert.equal(formatKeyPath(['groups', 1, 'tables', 0]), 'groups[1].tables[0]');
    assert.equal(formatKeyPath([]), '(top level)');
    assert.equal(formatKeyPath(['a', 'b c']), 'a["b c"]');
  });
});

describe('sizes', () => {
  it('parses byte counts and PostgreSQL-style size strings', () => {
    assert.equal(parseSize(1234), 1234);
    assert.equal(parseSize('1234'), 1234);
    assert.equal(parseSize('512kB'), 512 * 1024);
    assert.equal(parseSize('64MB'), 64 * 1024 * 1024);
    assert.equal(parseSize('1GB'), 1024 ** 3);
    assert.equal(parseSize('2 TB'), 2 * 1024 ** 4);
    assert.equal(parseSize('1.5MiB'), 1.5 * 1024 * 1024);
    assert.equal(parseSize('100B'), 100);
    for (const bad of [0, -1, 1.5, '0kB', 'MB', '12 parsecs', '1e6', true, null]) assert.equal(parseSize(bad), undefined, String(bad));
  });
});

describe('table references', () => {
  it('folds unquoted names and keeps quoted ones verbatim', () => {
    assert.deepEqual(parseTableRef('Public.Orders'), { schema: 'public', table: 'orders', pattern: false });
    assert.deepEqual(parseTableRef('"My Schema"."T.x"'), { schema: 'My Schema', table: 'T.x', pattern: false });
    assert.deepEqual(parseTableRef('"a""b".c'), { schema: 'a"b', table: 'c', pattern: false });
    assert.deepEqual(parseTableRef('app.t$1'), { schema: 'app', table: 't$1', pattern: false });
  });

  it('recognises * wildcards in unquoted parts only', () => {
    assert.deepEqual(parseTableRef('public.order_*'), { schema: 'public', table: 'order_*', pattern: true });
    assert.deepEqual(parseTableRef('public.*'), { schema: 'public', table: '*', pattern: true });
    assert.deepEqual(parseTableRef('"My Schema".*'), { schema: 'My Schema', table: '*', pattern: true });
    assert.deepEqual(parseTableRef('public."a*"'), { schema: 'public', table: 'a*', pattern: false });
    assert.match(parseTableRef('"a*".*') as string, /mixes a quoted "\*" with a wildcard/);
  });

  it('explains what is wrong with a bad reference', () => {
    assert.match(parseTableRef('orders') as string, /must be schema-qualified, e\.g\. public\.orders/);
    assert.match(parseTableRef('a.b.c') as string, /too many dots/);
    assert.match(parseTableRef('my-schema.t') as string, /quote identifiers/);
    assert.match(parseTableRef('"open.t') as string, /unterminated/);
    assert.match(parseTableRef('"".t') as string, /empty quoted identifier/);
    assert.match(parseTableRef(`public.${'x'.repeat(64)}`) as string, /longer than 63 bytes/);
  });

  it('round-trips through formatTableRef', () => {
    for (const text of ['public.orders', '"My Schema"."T.x"', 'public.order_*', 'public."a*"']) {
      const ref = parseTableRef(text);
      assert.ok(typeof ref !== 'string');
      assert.equal(formatTableRef(ref), text);
    }
  });

  it('reports a bad table with its key path', () => {
    fails(yaml('  - name: a\n    tables: [public.t, "x-y.z"]'), {}, 'ferry.yaml: groups[0].tables[1]: "x-y.z" is not a valid schema.table name');
  });
});

describe('sameDatabase', () => {
  it('compares host, port and database the way libpq reads them', () => {
    assert.ok(sameDatabase('postgres://a@h/db', 'postgresql://b:pw@H:5432/db?sslmode=require'));
    assert.ok(sameDatabase('postgres://u@h/', 'postgres://u@h:5432/u'), 'database defaults to the user name');
    assert.ok(sameDatabase('postgres:///db?host=h', 'postgres://h/db'));
    assert.ok(sameDatabase('postgres://h1,h2:5433/db', 'postgres://h2:5433/db'));
    assert.ok(sameDatabase('postgres:///db', 'postgres://localhost/db'));
    assert.ok(!sameDatabase('postgres://h/db', 'postgres://h:5433/db'));
    assert.ok(!sameDatabase('postgres://h/db', 'postgres://h/db2'));
    assert.ok(!sameDatabase('postgres://h/db', 'postgres://h/x?dbname=y'));
    assert.ok(!sameDatabase('postgres://h/db', 'postgres://h/other?port=5432&dbname=db2'));
  });
});

describe('redactUrl', () => {
  it('masks the password in the userinfo', () => {
    assert.equal(redactUrl('postgres://u:secret@h:5432/db'), 'postgres://u:***@h:5432/db');
    assert.equal(redactUrl('postgresql://u:p%40ss@h1,h2/db?sslmode=require'), 'postgresql://u:***@h1,h2/db?sslmode=require');
    assert.equal(redactUrl('postgres://u:p@ss/w?rd@h/db'), 'postgres://u:***@h/db');
    assert.equal(redactUrl('postgres://u:pa?ss@h/db'), 'postgres://u:***@h/db');
    assert.equal(redactUrl('postgres://u:@h/db'), 'postgres://u:***@h/db');
  });

  it('leaves URLs without a password unchanged', () => {
    for (const url of ['postgres://u@h/db', 'postgres://h:5432/db', 'postgres:///db?host=/tmp', 'postgres://u@h/db?application_name=a@b',
      'postgres://u@h:5432/db?application_name=a@b']) {
      assert.equal(redactUrl(url), url);
    }
  });

  it('masks password parameters in query strings and keyword/value strings', () => {
    assert.equal(redactUrl('postgres://h/db?sslmode=require&password=secret&user=u'), 'postgres://h/db?sslmode=require&password=***&user=u');
    assert.equal(redactUrl('postgres://h/db?PASSWORD=secret'), 'postgres://h/db?PASSWORD=***');
    assert.equal(redactUrl('host=h password=secret dbname=db'), 'host=h password=*** dbname=db');
    assert.equal(redactUrl("host=h password = 'se cr\\'et' dbname=db"), 'host=h password = *** dbname=db');
    assert.equal(redactUrl('password=secret'), 'password=***');
  });
});

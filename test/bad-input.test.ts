import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { startCluster } from '../src/embedded/cluster.js';
import { connect } from '../src/pg/connect.js';
import { walProblems, type WalSettings } from '../src/source/pg-wal/prerequisites.js';
import { cliRun, startPair, type Pair } from './support/harness.js';

/**
 * The catalogue of bad input: each case ends with the exit code it should and
 * one line on stderr that names the problem and how to fix it, never a stack
 * trace, never a password.
 */
describe('bad input: one line that names the problem and the fix', () => {
  const SECRET = 'Qz4-wrong-Pw';
  let pair: Pair;
  let n = 0;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE good (id int PRIMARY KEY, v text);
      CREATE TABLE shared (id int PRIMARY KEY);
      CREATE TABLE nothing_identity (id int PRIMARY KEY, v text);
      ALTER TABLE nothing_identity REPLICA IDENTITY NOTHING;
      CREATE TABLE counts (id int PRIMARY KEY, n int);
      CREATE TABLE prices (id int PRIMARY KEY, amount numeric(10,2));
      CREATE ROLE app_user LOGIN SUPERUSER PASSWORD 'Right-Pw-1';
      CREATE ROLE not_owner LOGIN REPLICATION;
      GRANT CREATE ON DATABASE app TO not_owner;`);
    await pair.sql('target', `
      CREATE TABLE counts (id int PRIMARY KEY, n text);
      CREATE TABLE prices (id int PRIMARY KEY, amount numeric(5,1));
      CREATE TABLE good (id int PRIMARY KEY, v text);
      CREATE ROLE weak LOGIN;
      GRANT CREATE ON DATABASE app TO weak;`);
    const hba = path.join(pair.source.dataDir, 'pg_hba.conf');
    await writeFile(hba, `host all app_user 127.0.0.1/32 scram-sha-256\n${await readFile(hba, 'utf8')}`);
    await pair.source.query('SELECT pg_reload_conf()');
  });

  after(async () => {
    await pair?.stop();
  });

  const src = () => pair.source.url('app');
  const tgt = () => pair.target.url('app');

  async function file(text: string): Promise<string> {
    const name = path.join(pair.dir, `bad-${++n}.yaml`);
    await writeFile(name, text);
    return name;
  }

  function config(groups: string, source = src(), target = tgt()): Promise<string> {
    return file(`source:\n  url: ${source}\ntarget:\n  url: ${target}\ngroups:\n${groups}`);
  }

  /** Runs the command and returns its one line of stderr, after checking the exit code. */
  async function oneLine(args: string[], exit: number, env: NodeJS.ProcessEnv = {}): Promise<string> {
    const res = await cliRun([...args, '--log-format', 'json'], env);
    assert.equal(res.code, exit, `exit ${exit}; stderr:\n${res.stderr}`);
    const lines = res.stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
    assert.equal(lines.length, 1, `one line on stderr:\n${res.stderr}`);
    assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    return lines[0] as string;
  }

  test('malformed YAML: file, line and column of the syntax error (exit 2)', async () => {
    const line = await oneLine(['init', '-c', await file('source:\n  url: [unclosed\ntarget: x\n')], 2);
    assert.match(line, /^ferry: FERRY_CONFIG: \S+bad-\d+\.yaml:\d+:\d+: YAML syntax error: /);
  });

  test('an unknown key: its path, the key it probably meant and the keys allowed there (exit 2)', async () => {
    const line = await oneLine(['init', '-c', await config('  - name: g\n    tables: [public.good]\napply:\n  batch_max_row: 5\n')], 2);
    assert.match(line, /^ferry: FERRY_CONFIG: \S+: apply\.batch_max_row: unknown key; did you mean batch_max_rows\? \(allowed here: batch_max_rows, /);
  });

  test('a table that does not exist on the source: group, table and the fix (exit 2)', async () => {
    const line = await oneLine(['init', '-c', await config('  - name: g\n    tables: [public.good, public.missing]\n')], 2);
    assert.equal(line, 'ferry: FERRY_PREREQUISITES: group g: table public.missing does not exist on the source: fix its name (quote mixed-case names) or remove it from the group');
  });

  test('a table named in two groups: both groups and where, in the configuration (exit 2)', async () => {
    const line = await oneLine(['init', '-c', await config('  - name: one\n    tables: [public.shared]\n  - name: two\n    tables: [public.good, public.shared]\n')], 2);
    assert.match(line, /^ferry: FERRY_CONFIG: \S+: groups\[1\]\.tables\[1\]: table public\.shared is in both group "one" \(groups\[0\]\.tables\[0\]\) and group "two"; a table can belong to one group only$/);
  });

  test('a table matched by a pattern in one group and named in another: both groups (exit 2)', async () => {
    const line = await oneLine(['init', '-c', await config('  - name: one\n    tables: [public.shar*]\n  - name: two\n    tables: [public.shared]\n')], 2);
    assert.equal(line, 'ferry: FERRY_PREREQUISITES: table public.shared is in groups one and two: a table can belong to one group only');
  });

  test('a wrong password: the side, the user and what to check, never the password (exit 1)', async () => {
    const cfg = await config('  - name: g\n    tables: [public.good]\n', `postgres://app_user:\${PW}@127.0.0.1:${pair.source.port}/app`);
    const line = await oneLine(['init', '-c', cfg], 1, { PW: SECRET });
    assert.match(line, /^ferry: FERRY_CONNECT_SOURCE: cannot connect to the source postgres:\/\/app_user:\*\*\*@127\.0\.0\.1:\d+\/app: password authentication failed for user "app_user" — fix: check the user and password in source\.url/);
    assert.ok(!line.includes(SECRET), 'the password is not echoed');
  });

  test('an unreachable target: the side, the address and what to check, never the password (exit 1)', async () => {
    const cfg = await config('  - name: g\n    tables: [public.good]\n', src(), `postgres://ferry:\${PW}@127.0.0.1:1/app`);
    const line = await oneLine(['init', '-c', cfg], 1, { PW: SECRET });
    assert.equal(line, 'ferry: FERRY_CONNECT_TARGET: cannot connect to the target postgres://ferry:***@127.0.0.1:1/app: connect ECONNREFUSED 127.0.0.1:1 — fix: check target.url and that the server is running and reachable');
  });

  test('a source host that does not resolve: the host and what to check (exit 1)', async () => {
    const cfg = await config('  - name: g\n    tables: [public.good]\n', `postgres://ferry:\${PW}@no-such-host.invalid:5432/app`);
    const line = await oneLine(['status', '-c', cfg], 1, { PW: SECRET });
    assert.match(line, /^ferry: FERRY_CONNECT_SOURCE: cannot connect to the source postgres:\/\/ferry:\*\*\*@no-such-host\.invalid:5432\/app: getaddrinfo (ENOTFOUND|EAI_AGAIN) no-such-host\.invalid — fix: check source\.url and that the server is running and reachable$/);
    assert.ok(!line.includes(SECRET), 'the password is not echoed');
  });

  test('REPLICA IDENTITY NOTHING: the table and the ALTER TABLE to run (exit 2)', async () => {
    const line = await oneLine(['init', '-c', await config('  - name: g\n    tables: [public.nothing_identity]\n')], 2);
    assert.equal(line, 'ferry: FERRY_PREREQUISITES: table public.nothing_identity has REPLICA IDENTITY NOTHING, so its updates and deletes cannot be replicated: run ALTER TABLE "public"."nothing_identity" REPLICA IDENTITY FULL; (or REPLICA IDENTITY DEFAULT after adding a primary key)');
  });

  test('an existing target column of another type (text for integer): both types and the ALTER to run (exit 2)', async () => {
    const line = await oneLine(['init', '-c', await config('  - name: g\n    tables: [public.counts]\n')], 2);
    assert.equal(line, 'ferry: FERRY_PREREQUISITES: group g: column n of target table public.counts has type text, which cannot hold every value of the source type integer: run ALTER TABLE "public"."counts" ALTER COLUMN "n" TYPE integer; on the target');
  });

  test('an existing target column too narrow (numeric(5,1) for numeric(10,2)): both types and the ALTER to run (exit 2)', async () => {
    const line = await oneLine(['init', '-c', await config('  - name: g\n    tables: [public.prices]\n')], 2);
    assert.equal(line, 'ferry: FERRY_PREREQUISITES: group g: column amount of target table public.prices has type numeric(5,1), which cannot hold every value of the source type numeric(10,2): run ALTER TABLE "public"."prices" ALTER COLUMN "amount" TYPE numeric(10,2); on the target');
  });

  test('missing privileges on the source: a role that does not own the table is told the fix (exit 2)', async () => {
    const cfg = await config('  - name: g\n    tables: [public.good]\n', `postgres://not_owner@127.0.0.1:${pair.source.port}/app`);
    const line = await oneLine(['init', '-c', cfg], 2);
    assert.equal(line, 'ferry: FERRY_PREREQUISITES: source role not_owner does not own table public.good, which CREATE PUBLICATION requires: run ferry as the table\'s owner, or ALTER TABLE … OWNER TO "not_owner";');
  });

  test('missing privileges on the target: the privileges an existing table lacks and the GRANT to run (exit 2)', async () => {
    const cfg = await config('  - name: g\n    tables: [public.good]\n', src(), `postgres://weak@127.0.0.1:${pair.target.port}/app`);
    const line = await oneLine(['init', '-c', cfg], 2);
    assert.equal(line, 'ferry: FERRY_PREREQUISITES: group g: target role weak lacks SELECT, INSERT, UPDATE, DELETE, TRUNCATE on table public.good: run GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON "public"."good" TO "weak"; on the target');
  });

  test('missing privileges on the target: a table ferry would create in a schema the role may not create in (exit 2)', async () => {
    const cfg = await config('  - name: g\n    tables: [public.shared]\n', src(), `postgres://weak@127.0.0.1:${pair.target.port}/app`);
    const line = await oneLine(['init', '-c', cfg], 2);
    assert.equal(line, 'ferry: FERRY_PREREQUISITES: group g: target role weak may not create table public.shared in schema public: run GRANT CREATE ON SCHEMA "public" TO "weak"; on the target, or create the table there yourself');
  });

  test('the ferry schema on the target belongs to another role: which role to use instead (exit 2)', async () => {
    await pair.sql('target', 'CREATE SCHEMA ferry; CREATE TABLE ferry.groups (group_name text)');
    try {
      const cfg = await config('  - name: g\n    tables: [public.good]\n', src(), `postgres://weak@127.0.0.1:${pair.target.port}/app`);
      const line = await oneLine(['status', '-c', cfg], 2);
      assert.match(line, /^ferry: FERRY_CONTROL_SCHEMA_ACCESS: the target role may not use the ferry schema on the target: permission denied for schema ferry — fix: run ferry with the target role that ran "ferry init"/);
    } finally {
      await pair.sql('target', 'DROP SCHEMA ferry CASCADE');
    }
  });

  // Last: it restarts the source with wal_level = replica.
  test('capture: wal against a source without wal_level = logical: the setting to change (exit 2)', async () => {
    await pair.source.query('ALTER SYSTEM SET wal_level = replica');
    await pair.source.restart();
    const line = await oneLine(['init', '-c', await config('  - name: g\n    tables: [public.good]\n')], 2);
    assert.equal(line, 'ferry: FERRY_PREREQUISITES: the source has wal_level = replica: run ALTER SYSTEM SET wal_level = logical; and restart the source server (on managed services set the logical replication parameter)');
  });
});

describe('a source too old for capture: wal', () => {
  test('a PostgreSQL 9.6 source is refused with the version, what wal capture needs, and the alternatives', async () => {
    const settings: WalSettings = {
      version: 90624, wal_level: 'logical', max_slots: 10, used_slots: 0, max_wal_senders: 10, superuser: true, replication: true, can_create: true,
    };
    // The version is checked before anything is asked of the server.
    const unused = undefined as unknown as pg.Client;
    assert.deepEqual(await walProblems(unused, settings, 'ferry', 'app', [], 1), [
      'the source runs PostgreSQL 9.6, logical decoding (capture: wal) needs 10 or later: upgrade it, or use capture: trigger',
    ]);
  });
});

describe('URL parameters cannot undo the session settings that keep values exact', () => {
  test("a URL's options and application_name are overridden where they clash; its other options stay", async () => {
    const cluster = await startCluster({ major: 18 });
    try {
      // An '@' in the query, and '=' inside an option's value, as libpq allows.
      const url = `${cluster.url()}?user=postgres&application_name=me@corp&options=-cwork_mem=7MB%20-c%20TimeZone%3DAsia/Tokyo%20-c%20DateStyle%3DSQL`;
      const client = await connect(url, { role: 'source', applicationName: 'ferry:probe' });
      try {
        const row = (await client.query<Record<string, string>>(
          `SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds, current_setting('work_mem') AS wm,
                  current_setting('application_name') AS app`)).rows[0];
        assert.deepEqual(row, { tz: 'UTC', ds: 'ISO, MDY', wm: '7MB', app: 'ferry:probe' });
      } finally {
        await client.end();
      }
    } finally {
      await cluster.stop();
    }
  });
});

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { cliRun, startPair, type Pair } from './support/harness.js';

describe('command line: exit codes and bad input', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE good (id int PRIMARY KEY, v text);
      CREATE TABLE nothing_identity (id int PRIMARY KEY, v text);
      ALTER TABLE nothing_identity REPLICA IDENTITY NOTHING;
      CREATE TABLE keyless (a int, b text);
      CREATE TABLE shared (id int PRIMARY KEY);`);
  });

  after(async () => {
    await pair?.stop();
  });

  test('an unknown command or option exits 2', async () => {
    assert.equal((await cliRun(['frobnicate'])).code, 2);
    assert.equal((await cliRun(['status'])).code, 2, 'status without -c');
  });

  test('a missing config file exits 2 and names the file', async () => {
    const res = await cliRun(['status', '-c', path.join(pair.dir, 'nope.yaml')]);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /nope\.yaml/);
  });

  test('malformed YAML exits 2 with line and column', async () => {
    const file = path.join(pair.dir, 'bad.yaml');
    await writeFile(file, 'source:\n  url: [unclosed\n');
    const res = await cliRun(['init', '-c', file]);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /bad\.yaml:\d+:\d+/);
  });

  test('a wrong password exits 1, names the side, and never echoes the password', async () => {
    await pair.sql('source', `CREATE ROLE app_user LOGIN PASSWORD 'right-pass'`);
    await pair.source.query(`ALTER SYSTEM SET password_encryption = 'scram-sha-256'`);
    const hba = path.join(pair.source.dataDir, 'pg_hba.conf');
    const { readFile } = await import('node:fs/promises');
    const original = await readFile(hba, 'utf8');
    await writeFile(hba, `host all app_user 127.0.0.1/32 scram-sha-256\n${original}`);
    await pair.source.query('SELECT pg_reload_conf()');
    const file = path.join(pair.dir, 'password.yaml');
    await writeFile(file, `source:\n  url: postgres://app_user:\${PW}@127.0.0.1:${pair.source.port}/app\ntarget:\n  url: ${pair.target.url('app')}\ngroups:\n  - name: g\n    tables: [public.good]\n`);
    const res = await cliRun(['status', '-c', file], { PW: 'Wr0ng-S3cret' });
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /FERRY_CONNECT_SOURCE/);
    assert.match(res.stderr, /password/);
    assert.doesNotMatch(res.stderr + res.stdout, /Wr0ng-S3cret/);
  });

  test('init refuses REPLICA IDENTITY NOTHING and keyless tables with the exact fix, a missing table and a table in two groups, all at once', async () => {
    const file = path.join(pair.dir, 'problems.yaml');
    await writeFile(file, `source:\n  url: ${pair.source.url('app')}\ntarget:\n  url: ${pair.target.url('app')}\ngroups:
  - name: one
    tables: [public.nothing_identity, public.keyless, public.missing, public.shar*]
  - name: two
    tables: [public.shared]\n`);
    const res = await cliRun(['init', '-c', file]);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /public\.missing does not exist on the source/);
    assert.match(res.stderr, /public\.shared is in groups one and two/);
    const fixable = path.join(pair.dir, 'identity.yaml');
    await writeFile(fixable, `source:\n  url: ${pair.source.url('app')}\ntarget:\n  url: ${pair.target.url('app')}\ngroups:
  - name: one
    tables: [public.nothing_identity, public.keyless]\n`);
    const identity = await cliRun(['init', '-c', fixable]);
    assert.equal(identity.code, 2);
    assert.match(identity.stderr, /ALTER TABLE "public"\."nothing_identity" REPLICA IDENTITY FULL;/);
    assert.match(identity.stderr, /ALTER TABLE "public"\."keyless" REPLICA IDENTITY FULL;/);
    const slots = await pair.sql('source', 'SELECT count(*)::int AS n FROM pg_replication_slots');
    assert.equal(slots.rows[0]?.n, 0, 'a refused init creates nothing on the source');
  });

  test('wait times out with exit 3 when no ferry run is applying', async () => {
    const file = await pair.config({ g: ['public.good'] });
    assert.equal((await cliRun(['init', '-c', file])).code, 0);
    const res = await cliRun(['wait', '-c', file, '--timeout', '1']);
    assert.equal(res.code, 3, res.stderr);
    assert.match(res.stderr, /FERRY_WAIT_TIMEOUT/);
  });

  test('status --json reports each group, and drop removes slot, publication and control schema but keeps data', async () => {
    const file = await pair.config({ g: ['public.good'] });
    await pair.sql('source', `INSERT INTO good VALUES (1, 'kept')`);
    const status = await cliRun(['status', '-c', file, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const groups = JSON.parse(status.stdout) as { group: string; state: string; slot: { exists: boolean } }[];
    assert.equal(groups[0]?.group, 'g');
    assert.equal(groups[0]?.state, 'stopped');
    assert.equal(groups[0]?.slot.exists, true);
    const drop = await cliRun(['drop', '-c', file]);
    assert.equal(drop.code, 0, drop.stderr);
    const src = await pair.sql('source', `SELECT (SELECT count(*) FROM pg_replication_slots)::int AS slots, (SELECT count(*) FROM pg_publication)::int AS pubs`);
    assert.deepEqual(src.rows[0], { slots: 0, pubs: 0 });
    const tgt = await pair.sql('target', `SELECT to_regnamespace('ferry') IS NULL AS gone, to_regclass('public.good') IS NOT NULL AS kept`);
    assert.deepEqual(tgt.rows[0], { gone: true, kept: true });
    assert.equal((await cliRun(['drop', '-c', file])).code, 0, 'drop is safe to repeat');
  });
});

describe('prerequisites of the source server', () => {
  let source: Cluster;
  let target: Cluster;

  before(async () => {
    [source, target] = await Promise.all([startCluster({ major: 18, settings: { wal_level: 'replica' } }), startCluster({ major: 18 })]);
    await source.query('CREATE TABLE t (id int PRIMARY KEY)');
  });

  after(async () => {
    await source?.stop();
    await target?.stop();
  });

  test('wal_level other than logical is refused with the setting to change', async () => {
    const file = path.join(source.dataDir, '..', 'wal.yaml');
    await writeFile(file, `source:\n  url: ${source.url()}\ntarget:\n  url: ${target.url()}\ngroups:\n  - name: g\n    tables: [public.t]\n`);
    const res = await cliRun(['init', '-c', file]);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /wal_level = replica/);
    assert.match(res.stderr, /ALTER SYSTEM SET wal_level = logical/);
  });

  test('a role without REPLICATION is told how to get it', async () => {
    await source.query(`CREATE ROLE plain LOGIN; GRANT CREATE ON DATABASE postgres TO plain; ALTER TABLE t OWNER TO plain`);
    const file = path.join(source.dataDir, '..', 'role.yaml');
    await writeFile(file, `source:\n  url: postgres://plain@127.0.0.1:${source.port}/postgres\ntarget:\n  url: ${target.url()}\ngroups:\n  - name: g\n    tables: [public.t]\n`);
    const res = await cliRun(['init', '-c', file]);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /ALTER ROLE "plain" REPLICATION/);
  });
});

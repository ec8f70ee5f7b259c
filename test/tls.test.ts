import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { startCluster, type Cluster } from '../src/embedded/cluster.js';
import { connect } from '../src/pg/connect.js';
import { assertSameRows, catchUp, cli, cliRun, init, run, startPair, until, type Pair } from './support/harness.js';

/** Puts `lines` first in the server's pg_hba.conf, so they decide for the roles they name. */
async function hbaFirst(cluster: Cluster, lines: readonly string[]): Promise<void> {
  const file = path.join(cluster.dataDir, 'pg_hba.conf');
  await writeFile(file, `${lines.join('\n')}\n${await readFile(file, 'utf8')}`);
  await cluster.query('SELECT pg_reload_conf()');
}

/** A self-signed certificate for 127.0.0.1 and localhost, and its key, readable by the server. */
async function selfSigned(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  // The server refuses a key others can read; as root it runs as nobody, who must own it.
  if (process.getuid?.() === 0) { await chown(key, 65534, 65534); await chown(cert, 65534, 65534); }
  await chmod(key, 0o600);
  return { cert, key };
}

/** One line of output at most: the error, with no second line of stack or warning. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
  assert.equal(lines.length, 1, `exactly one line on stderr:\n${stderr}`);
  return lines[0] as string;
}

describe('TLS: sslmode and sslrootcert in the URLs reach every connection, replication included', () => {
  let dir: string;
  let source: Cluster;
  let target: Cluster;
  let pair: Pair;
  let right: { cert: string; key: string };
  let wrong: { cert: string; key: string };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-tls-'));
    await chmod(dir, 0o755);
    right = await selfSigned(dir, 'server');
    wrong = await selfSigned(dir, 'impostor');
    const settings = { ssl: 'on', ssl_cert_file: `'${right.cert}'`, ssl_key_file: `'${right.key}'` };
    [source, target] = await Promise.all([startCluster({ major: 18, settings }), startCluster({ major: 18, settings })]);
    for (const cluster of [source, target]) {
      await cluster.query(`CREATE DATABASE app`);
      await cluster.query(`CREATE ROLE ferry_tls LOGIN SUPERUSER`);
      // ferry_tls gets in over TLS only; a plain connection is rejected.
      await hbaFirst(cluster, ['hostssl all ferry_tls 127.0.0.1/32 trust', 'host all ferry_tls 127.0.0.1/32 reject']);
    }
    pair = {
      source, target, dir,
      sql: (side, text, params) => (side === 'source' ? source : target).query(text, params, 'app'),
      config: () => { throw new Error('not used'); },
      stop: async () => undefined,
    };
    await source.query(`CREATE TABLE items (id int PRIMARY KEY, note text); INSERT INTO items SELECT i, 'copied' FROM generate_series(1, 100) i`, [], 'app');
  });

  after(async () => {
    await source?.stop();
    await target?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const url = (cluster: Cluster, query: string, user = 'ferry_tls') => `postgres://${user}@127.0.0.1:${cluster.port}/app?${query}`;

  async function configFile(name: string, sourceQuery: string, targetQuery = sourceQuery): Promise<string> {
    const file = path.join(dir, `${name}.yaml`);
    await writeFile(file, `source:\n  url: ${url(source, sourceQuery)}\ntarget:\n  url: ${url(target, targetQuery)}
groups:\n  - name: tls\n    tables: [public.items]\napply:\n  retry_initial_ms: 200\n`);
    return file;
  }

  /** Whether the backend serving this client is encrypted. */
  async function encrypted(client: pg.Client): Promise<boolean> {
    return (await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]?.ssl === true;
  }

  test('verify-full with the server\'s root certificate: init, run and catch-up all go over TLS, the replication connection included', async () => {
    const config = await configFile('verify-full', `sslmode=verify-full&sslrootcert=${right.cert}`);
    await init(config);
    const ferry = await run(config);
    try {
      await source.query(`INSERT INTO items SELECT i, 'streamed' FROM generate_series(101, 150) i`, [], 'app');
      await catchUp(config);
      assert.equal(await assertSameRows(pair, 'items'), 150);
      const walsenders = await source.query(`SELECT s.ssl, a.backend_type FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
        WHERE a.application_name = 'ferry:tls'`);
      assert.deepEqual(walsenders.rows, [{ ssl: true, backend_type: 'walsender' }], 'the replication connection is encrypted');
      const appliers = await target.query(`SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'ferry:tls'`);
      assert.deepEqual(appliers.rows, [{ ssl: true }], 'the applying connection is encrypted');
    } finally {
      assert.deepEqual(await ferry.stop(), []);
    }
  });

  test('sslmode=require encrypts without verifying the certificate, as in libpq, and prints no warning', async () => {
    const client = await connect(url(source, 'sslmode=require'), { role: 'source', applicationName: 'ferry:test' });
    try {
      assert.equal(await encrypted(client), true);
    } finally {
      await client.end();
    }
    const res = await cliRun(['status', '-c', await configFile('require', 'sslmode=require'), '--json']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stderr, '', 'nothing on stderr (no warning about sslmode)');
    assert.equal((JSON.parse(res.stdout) as { state: string }[])[0]?.state, 'stopped');
  });

  test('a root certificate that did not sign the server\'s is refused in one line that says what to fix', async () => {
    const res = await cliRun(['status', '-c', await configFile('wrong-root', `sslmode=verify-full&sslrootcert=${wrong.cert}`)]);
    assert.equal(res.code, 1);
    const line = oneLine(res.stderr);
    assert.match(line, /^ferry: FERRY_CONNECT_(SOURCE|TARGET): cannot connect to the (source|target) postgres:\/\/ferry_tls@127\.0\.0\.1:\d+\/app\?sslmode=verify-full&sslrootcert=\S+impostor\.crt: self-signed certificate/);
    assert.match(line, /— fix: the (source|target) server's certificate was not accepted: give the CA that signed it as sslrootcert=<file>/);
  });

  test('an sslrootcert file that does not exist is a configuration error (exit 2) in one line', async () => {
    const res = await cliRun(['status', '-c', await configFile('no-file', `sslmode=verify-full&sslrootcert=${path.join(dir, 'missing.crt')}`)]);
    assert.equal(res.code, 2);
    assert.match(oneLine(res.stderr), /^ferry: FERRY_CONNECT_SETTINGS: cannot use (source|target)\.url .*: ENOENT: no such file or directory, open '.*missing\.crt' — fix: check the sslrootcert, sslcert and sslkey files named in (source|target)\.url/);
  });

  test('sslmode=prefer uses TLS when the server offers it and falls back to a plain connection when it does not; require then says TLS is off', async () => {
    const prefer = url(target, 'sslmode=prefer', 'postgres');
    let client = await connect(prefer, { role: 'target', applicationName: 'ferry:test' });
    assert.equal(await encrypted(client), true, 'prefer encrypts when it can');
    await client.end();
    client = await connect(url(target, 'sslmode=disable', 'postgres'), { role: 'target', applicationName: 'ferry:test' });
    assert.equal(await encrypted(client), false, 'disable does not encrypt');
    await client.end();
    await target.query(`ALTER SYSTEM SET ssl = off`);
    await target.query(`SELECT pg_reload_conf()`);
    try {
      await until('TLS to be off', async () => (await target.query(`SHOW ssl`)).rows[0]?.ssl === 'off');
      client = await connect(prefer, { role: 'target', applicationName: 'ferry:test' });
      assert.equal(await encrypted(client), false, 'prefer falls back to plain');
      await client.end();
      await assert.rejects(connect(url(target, 'sslmode=require', 'postgres'), { role: 'target', applicationName: 'ferry:test' }),
        (err: Error & { describe(): string }) => {
          assert.match(err.describe(), /^FERRY_CONNECT_TARGET: .*The server does not support SSL connections — fix: the target server does not offer TLS: turn on ssl there, or use sslmode=prefer or disable in target\.url$/);
          return true;
        });
    } finally {
      await target.query(`ALTER SYSTEM RESET ssl`);
      await target.query(`SELECT pg_reload_conf()`);
    }
  });
});

describe('secrets and least privileges: a full cycle as password-authenticated, non-superuser roles with only the documented grants', () => {
  const SECRET = 'Sx9-kq2-Vb7p';
  let pair: Pair;
  let config: string;

  before(async () => {
    pair = await startPair();
    // Source: REPLICATION, CREATE on the database, and ownership of the replicated tables.
    await pair.sql('source', `
      CREATE ROLE replicator LOGIN REPLICATION PASSWORD '${SECRET}';
      GRANT CREATE ON DATABASE app TO replicator;
      CREATE TABLE orders (id serial PRIMARY KEY, item text, qty int);
      CREATE TABLE journal (at timestamptz DEFAULT now(), note text);
      ALTER TABLE journal REPLICA IDENTITY FULL;
      ALTER TABLE orders OWNER TO replicator;
      ALTER TABLE journal OWNER TO replicator;
      INSERT INTO orders (item, qty) SELECT 'item ' || i, i FROM generate_series(1, 50) i;`);
    // Target: CREATE on the database and on the schema of the tables; ferry creates the tables and so owns them.
    await pair.sql('target', `
      CREATE ROLE applier LOGIN PASSWORD '${SECRET}';
      GRANT CREATE ON DATABASE app TO applier;
      GRANT CREATE ON SCHEMA public TO applier;`);
    for (const [cluster, role] of [[pair.source, 'replicator'], [pair.target, 'applier']] as const) {
      await hbaFirst(cluster, [`host all ${role} 127.0.0.1/32 scram-sha-256`]);
    }
    config = path.join(pair.dir, 'secret.yaml');
    await writeFile(config, `source:\n  url: postgres://replicator:\${PW}@127.0.0.1:${pair.source.port}/app
target:\n  url: postgres://applier:\${PW}@127.0.0.1:${pair.target.port}/app
groups:\n  - name: shop\n    tables: [public.orders, public.journal]
apply:\n  retry_initial_ms: 200\n  retry_max_ms: 1000\nsequences:\n  sync_interval_ms: 500\n`);
  });

  after(async () => {
    await pair?.stop();
  });

  test('init, run (through a target crash), status, wait and sync-sequences work, and no output, log, status or process title holds the password', async () => {
    const env = { PW: SECRET };
    const outputs: string[] = [];
    const initResult = await cliRun(['init', '-c', config, '--log-format', 'json', '--log-level', 'debug', '--json'], env);
    outputs.push(initResult.stdout, initResult.stderr);
    assert.equal(initResult.code, 0, initResult.stderr);
    const owner = await pair.sql('target', `SELECT tableowner FROM pg_tables WHERE tablename = 'orders'`);
    assert.equal(owner.rows[0]?.tableowner, 'applier', 'init created the target table as the target role');

    const running = cli(['run', '-c', config, '--log-format', 'json', '--log-level', 'debug'], env);
    let logged = '';
    running.child.stderr?.on('data', (d: Buffer) => { logged += d.toString(); });
    try {
      await until('ferry run to stream', async () => (await pair.sql('source', `SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 'ferry:shop'`)).rows[0]?.n === 1);
      const pid = running.child.pid as number;
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
      const title = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });
      outputs.push(cmdline, title);
      assert.match(cmdline, /run -c \S+secret\.yaml/, 'the command line is the one started');
      await pair.sql('source', `INSERT INTO orders (item, qty) VALUES ('streamed', 1); INSERT INTO journal (note) VALUES ('one'), ('one')`);
      // A target that is down for a while makes ferry log connection errors, which name the URL.
      await pair.target.crash();
      await until('ferry to log a failed connection to the target', async () => /cannot connect to the target postgres:\/\/applier:\*\*\*@/.test(logged));
      await pair.target.restart();
      await pair.sql('source', `UPDATE orders SET qty = qty + 1 WHERE id <= 10; DELETE FROM journal WHERE ctid = (SELECT min(ctid) FROM journal)`);
      const wait = await cliRun(['wait', '-c', config, '--timeout', '60', '--json'], env);
      outputs.push(wait.stdout, wait.stderr);
      assert.equal(wait.code, 0, wait.stderr);
      const status = await cliRun(['status', '-c', config, '--json'], env);
      outputs.push(status.stdout, status.stderr);
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { state: string }[])[0]?.state, 'streaming');
      const activity = await pair.sql('target', `SELECT string_agg(application_name, ' ') AS names FROM pg_stat_activity`);
      outputs.push(String(activity.rows[0]?.names));
    } finally {
      running.child.kill('SIGTERM');
      const result = await running.result;
      outputs.push(result.stdout, result.stderr);
      assert.equal(result.code, 0, result.stderr.slice(-2000));
    }
    // As at a switchover, after ferry run has stopped: while it runs, it keeps target sequences `headroom` ahead.
    const sequences = await cliRun(['sync-sequences', '-c', config, '--json'], env);
    outputs.push(sequences.stdout, sequences.stderr);
    assert.equal(sequences.code, 0, sequences.stderr);
    await assertSameRows(pair, 'orders');
    await assertSameRows(pair, 'journal', 'note');
    const sequence = await pair.sql('target', `SELECT last_value FROM orders_id_seq`);
    assert.equal(Number(sequence.rows[0]?.last_value), 51, 'sync-sequences set the target sequence as the target role');
    const all = outputs.join('\n');
    assert.match(all, /postgres:\/\/applier:\*\*\*@127\.0\.0\.1/, 'the logs did name the target URL (with the password masked) while it was down');
    assert.ok(!all.includes(SECRET), 'the password appears in no output, log, status, process title or application name');
    const stored = await pair.sql('target', `SELECT coalesce(last_error, '') AS e FROM ferry.groups`);
    assert.ok(!String(stored.rows[0]?.e).includes(SECRET), 'nor in the error stored on the target');
  });
});

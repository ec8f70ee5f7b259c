import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../src/config/load.js';
import { initGroups } from '../src/init/init.js';
import { health } from '../src/observe/health.js';
import { collectStatus } from '../src/observe/status.js';
import { Warnings, type Notice } from '../src/observe/warnings.js';
import { runGroups } from '../src/run/run-groups.js';
import { catchUp, cli, cliRun, init, startPair, triggerConfig, until, writeUntilAborted, type Pair } from './support/harness.js';
import { FerryMetrics } from '../src/observe/metrics.js';
import { openPage } from './support/chromium.js';
import { capturingLogger, freePort, get, metric, type Fetched } from './support/observe.js';

const SECRET = 'Obs3rve-s3cret';

/**
 * `ferry run --listen`: what the endpoints say while a workload replicates,
 * the dashboard in a real browser, and the warnings before a slot hurts the
 * source. One pair of servers for the whole file.
 */
describe('observability: metrics, status, health, dashboard and slot warnings', () => {
  let pair: Pair;

  before(async () => {
    pair = await startPair();
    await pair.sql('source', `
      CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL);
      CREATE TABLE doomed (id int PRIMARY KEY);
      CREATE TABLE filler (id serial PRIMARY KEY, pad text);
      CREATE TABLE queued (id int PRIMARY KEY);`);
    // A password in the URLs (the test servers trust local connections, so it is not checked): no endpoint may show it.
    await Promise.all([pair.sql('source', `ALTER ROLE postgres PASSWORD '${SECRET}'`), pair.sql('target', `ALTER ROLE postgres PASSWORD '${SECRET}'`)]);
  });

  after(async () => {
    await pair?.stop();
  });

  test('scraped during live replication, the metrics follow the workload, lag returns to 0, health follows the lag, and no response holds the password', async () => {
    const port = await freePort();
    const file = await pair.config({ shop: ['public.items'] },
      `observe:\n  listen: 127.0.0.1:${port}\n  poll_interval_ms: 300\n  lag_warn_seconds: 1\n  lag_limit_seconds: 1`);
    await writeFile(file, (await readFile(file, 'utf8')).replaceAll('postgres://postgres@', `postgres://postgres:${SECRET}@`));
    await init(file);
    const config = await loadConfig(file);
    const base = `http://127.0.0.1:${port}/`;
    const seen: Fetched[] = [];
    const { log, records } = capturingLogger();
    const stop = new AbortController();
    const running = runGroups(config, log, stop.signal);
    try {
      await until('/healthz to answer 200', async () => (await get(`${base}healthz`).catch(() => ({ status: 0 }))).status === 200);
      assert.equal(metric((await get(`${base}metrics`, seen)).body, 'ferry_rows_applied_total', { group: 'shop', op: 'insert' }), undefined, 'nothing applied yet');

      // A live workload, one row per transaction, while the dashboard is open.
      const writing = new AbortController();
      const writer = writeUntilAborted(pair.source.url('app'), writing.signal, async (c, n) => { await c.query('INSERT INTO items VALUES ($1, $1)', [n]); });
      const page = await openPage(base);
      let inserted: number;
      try {
        await until('the dashboard to chart a few points of group shop', async () => page.evaluate<boolean>(
          `Number(document.body?.dataset.points) >= 4 && document.querySelector('[data-group="shop"]')?.dataset.state === 'streaming'`), 30_000);
        await until('rows applied to move while the workload runs', async () =>
          (metric((await get(`${base}metrics`, seen)).body, 'ferry_rows_applied_total', { group: 'shop', table: 'public.items', op: 'insert' }) ?? 0) > 0);
        const shown = await page.evaluate<{ groups: string[]; state: string; health: string; canvases: number; points: number; series: number; drawn: number }>(`({
          groups: [...document.querySelectorAll('[data-group]')].map((e) => e.dataset.group),
          state: document.querySelector('[data-group="shop"] .pill').textContent,
          health: document.getElementById('health').dataset.healthy,
          canvases: document.querySelectorAll('.chart canvas').length,
          points: Number(document.body.dataset.points),
          series: document.querySelectorAll('#chart-rows .u-legend .u-series').length,
          // Pixels of shop's line colour (#2563eb) on the throughput chart's canvas: a line was drawn, not only axes.
          drawn: (() => {
            const c = document.querySelector('#chart-rows canvas');
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < px.length; i += 4) if (px[i] < 80 && px[i + 1] < 130 && px[i + 2] > 200 && px[i + 3] > 200) n++;
            return n;
          })(),
        })`);
        assert.deepEqual(shown.groups, ['shop'], 'one card, for group shop');
        assert.equal(shown.state, 'streaming');
        assert.equal(shown.health, 'true', 'the page shows the standby as healthy');
        assert.equal(shown.canvases, 4, 'four charts drawn');
        assert.ok(shown.points >= 4, `the charts have ${shown.points} points`);
        assert.equal(shown.series, 1, 'the throughput chart has a series for shop');
        assert.ok(shown.drawn > 50, `the throughput chart has a line drawn (${shown.drawn} pixels of its colour)`);
        const dir = path.join(tmpdir(), 'ferry-test-screenshots');
        await mkdir(dir, { recursive: true });
        const png = await page.screenshot();
        assert.equal(png.subarray(1, 4).toString(), 'PNG');
        await writeFile(path.join(dir, 'dashboard.png'), png);
        assert.deepEqual(page.errors, [], 'no console errors, exceptions or failed loads');
      } finally {
        await page.close();
        writing.abort();
        inserted = await writer;
      }
      await pair.sql('source', 'UPDATE items SET v = v + 1 WHERE id <= 40');
      await pair.sql('source', 'DELETE FROM items WHERE id <= 10');
      await catchUp(file);
      const caughtUpAt = Date.now() / 1000;

      const text = (await get(`${base}metrics`, seen)).body;
      const rows = (op: string) => metric(text, 'ferry_rows_applied_total', { group: 'shop', table: 'public.items', op });
      assert.equal(rows('insert'), inserted, 'inserts applied = rows written');
      assert.equal(rows('update'), 40, 'updates applied = rows updated');
      assert.equal(rows('delete'), 10, 'deletes applied = rows deleted');
      assert.ok((metric(text, 'ferry_source_transactions_applied_total', { group: 'shop' }) ?? 0) >= inserted + 2, 'every source transaction counted');
      assert.ok((metric(text, 'ferry_target_transactions_total', { group: 'shop' }) ?? 0) >= 1);
      assert.ok((metric(text, 'ferry_batch_duration_seconds_count', { group: 'shop' }) ?? 0) >= 1);
      assert.equal(metric(text, 'ferry_group_state', { group: 'shop', state: 'streaming' }), 1);
      assert.equal(metric(text, 'ferry_copy_chunks_done', { group: 'shop', table: 'public.items' }), 1);
      assert.ok((metric(text, 'ferry_slot_retained_wal_bytes', { group: 'shop', slot: 'ferry_shop' }) ?? -1) >= 0);
      assert.equal(metric(text, 'ferry_slot_wal_status', { group: 'shop', slot: 'ferry_shop', wal_status: 'reserved' }), 1);
      assert.ok(metric(text, 'process_cpu_seconds_total') !== undefined, 'the default process metrics');
      for (const line of text.split('\n').filter((l) => l.startsWith('# TYPE '))) {
        const name = line.split(' ')[2] as string;
        assert.ok(text.includes(`# HELP ${name} `), `${name} has a # HELP`);
        assert.ok(name.startsWith('ferry_') || name.startsWith('process_') || name.startsWith('nodejs_'), `${name} is prefixed`);
      }

      await until('lag 0 in seconds and bytes after wait, with the source idle', async () => {
        const m = (await get(`${base}metrics`, seen)).body;
        // Read after wait returned, not a reading from before.
        return (metric(m, 'ferry_status_timestamp_seconds') ?? 0) >= caughtUpAt
          && metric(m, 'ferry_lag_seconds', { group: 'shop' }) === 0 && metric(m, 'ferry_lag_bytes', { group: 'shop' }) === 0;
      }, 15_000);

      // /status may be up to a second old: the same as a fresh `ferry status` once it has caught up with the last batch.
      const direct = await collectStatus(config);
      let status: { group: string; state: string; rowsApplied: number }[] = [];
      await until('/status to read what ferry status reads', async () => {
        status = JSON.parse((await get(`${base}status`, seen)).body) as typeof status;
        return JSON.stringify(status.map((s) => [s.group, s.state, s.rowsApplied])) === JSON.stringify(direct.map((s) => [s.group, s.state, s.rowsApplied]));
      }, 10_000);
      assert.deepEqual(Object.keys(status[0] ?? {}).sort(), Object.keys(direct[0] ?? {}).sort(), '/status has the fields of ferry status --json');

      // Hold a lock the apply needs on the target: the group falls behind past the limit, then catches up.
      const blocker = new pg.Client({ connectionString: pair.target.url('app') });
      await blocker.connect();
      try {
        await blocker.query('BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
        await pair.sql('source', 'INSERT INTO items VALUES (-1, -1)');
        let unhealthy: Fetched | undefined;
        await until('/healthz to answer 503 while the group is behind', async () => (unhealthy = await get(`${base}healthz`, seen)).status === 503, 20_000);
        assert.match(unhealthy?.body ?? '', /group shop is [\d.]+ s behind the source \(limit observe.lag_limit_seconds = 1\)/);
        // Several status readings inside the episode: still one warning.
        await until('the lag to pass 2.5 s', async () => (metric((await get(`${base}metrics`, seen)).body, 'ferry_lag_seconds', { group: 'shop' }) ?? 0) > 2.5, 20_000);
      } finally {
        await blocker.query('ROLLBACK');
        await blocker.end();
      }
      await until('/healthz to answer 200 again', async () => (await get(`${base}healthz`, seen)).status === 200, 20_000);
      const warnings = records.filter((r) => r.level === 40 && String(r.msg).includes('behind the source'));
      assert.equal(warnings.length, 1, `one lag warning for the episode, not one per reading: ${JSON.stringify(warnings)}`);
      assert.equal(records.filter((r) => String(r.msg).includes('within observe.lag_warn_seconds again')).length, 1);

      for (const p of ['', 'dashboard.js', 'dashboard.css', 'uplot.min.js', 'api/dashboard']) assert.equal((await get(`${base}${p}`, seen)).status, 200, `/${p}`);
      assert.equal((await get(`${base}..%2Fpackage.json`, seen)).status, 404, 'only the known files are served');
      for (const r of seen) assert.ok(!r.body.includes(SECRET), `a response holds the password: ${r.body.slice(0, 200)}`);
      assert.ok(!JSON.stringify(records).includes(SECRET), 'the log holds the password');
    } finally {
      stop.abort();
      assert.deepEqual(await running, []);
    }
  });

  test('init warns about unlimited max_slot_wal_keep_size; a slot filling up, unreserved and lost is announced once each; a lost slot stops its group with how to re-initialise it', async () => {
    const file = await pair.config({ doomed: ['public.doomed'] }, 'observe:\n  slot_warn_share: 0.5');
    const config = await loadConfig(file);
    const { log, records } = capturingLogger();
    await initGroups(config, log);
    const unlimited = records.find((r) => r.code === 'FERRY_SLOT_WAL_UNLIMITED');
    assert.ok(unlimited && unlimited.level === 40, 'init warns');
    assert.match(String(unlimited.msg), /max_slot_wal_keep_size = -1.*ALTER SYSTEM SET max_slot_wal_keep_size/);

    await pair.sql('source', `ALTER SYSTEM SET max_slot_wal_keep_size = '48MB'`);
    await pair.sql('source', 'SELECT pg_reload_conf()');
    const notices: Notice[] = [];
    const warnings = new Warnings(log, config.observe, (n) => notices.push(n));
    // No ferry run reads the slot: WAL written elsewhere piles up behind it, a segment at a time.
    let walStatus: string | null = null;
    for (let i = 0; i < 12 && walStatus !== 'unreserved'; i++) {
      await pair.sql('source', `INSERT INTO filler (pad) VALUES ('x'); SELECT pg_switch_wal()`);
      const status = await collectStatus(config);
      warnings.check(status);
      walStatus = status[0]?.slot?.walStatus ?? null;
    }
    assert.equal(walStatus, 'unreserved', 'the slot went past max_slot_wal_keep_size');
    await pair.sql('source', 'CHECKPOINT');
    const lost = await collectStatus(config);
    assert.equal(lost[0]?.slot?.walStatus, 'lost', 'the checkpoint removed the WAL the slot needed');
    warnings.check(lost);
    warnings.check(await collectStatus(config));
    const said = (pattern: RegExp) => notices.filter((n) => pattern.test(n.message));
    assert.equal(said(/holds \d+% of the WAL it may retain/).length, 1, `one warning as it filled: ${JSON.stringify(notices)}`);
    assert.equal(said(/is unreserved/).length, 1, 'one warning when unreserved');
    assert.equal(said(/is lost/).length, 1, 'one error when lost');
    assert.equal(said(/is lost/)[0]?.level, 'error');
    assert.match(health(lost, 300).reasons.join('\n'), /ferry_doomed is lost/);

    const failed = await runGroups(config, log, new AbortController().signal);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]?.code, 'FERRY_SLOT_LOST', failed[0]?.describe());
    assert.match(failed[0]?.describe() ?? '', /ferry drop -c <config> --group doomed" then "ferry init -c <config>"/);
    const after = await collectStatus(config);
    assert.match(health(after, 300).reasons.join('\n'), /group doomed is failed: FERRY_SLOT_LOST/);
  });

  test('trigger capture: a queue growing while nothing consumes it is announced once, its backlog and size are metrics, and it drains when ferry run --listen applies it', async () => {
    const file = await triggerConfig(pair, { backlog: ['public.queued'] }, { extra: 'observe:\n  queue_warn_events: 20\n' });
    const config = await init(file);
    await pair.sql('source', 'INSERT INTO queued SELECT i FROM generate_series(1, 50) i');
    const { log } = capturingLogger();
    const notices: Notice[] = [];
    const warnings = new Warnings(log, config.observe, (n) => notices.push(n));
    const status = await collectStatus(config);
    const pending = status[0]?.queue?.pendingEvents ?? 0;
    assert.ok(pending >= 50 && pending < 60, `about 50 events wait (${pending})`);
    warnings.check(status);
    warnings.check(await collectStatus(config));
    const growing = notices.filter((n) => /events queued on the source .* no ferry process is applying it/.test(n.message));
    assert.equal(growing.length, 1, `one warning: ${JSON.stringify(notices)}`);
    const metrics = new FerryMetrics();
    metrics.observe(status, new Date());
    const text = await metrics.registry.metrics();
    assert.equal(metric(text, 'ferry_queue_pending_events', { group: 'backlog' }), pending);
    assert.ok((metric(text, 'ferry_queue_table_bytes', { group: 'backlog' }) ?? 0) > 0, 'the queue tables have a size');
    // The command line's --listen, with the queue's gauges on /metrics.
    const bad = await cliRun(['run', '-c', file, '--listen', 'nowhere']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /expected HOST:PORT/);
    const port = await freePort();
    const ferry = cli(['run', '-c', file, '--listen', `127.0.0.1:${port}`, '--log-format', 'json']);
    try {
      await until('ferry run --listen to answer /healthz with 200', async () => (await get(`http://127.0.0.1:${port}/healthz`).catch(() => ({ status: 0 }))).status === 200);
      // The built command line is a bundle in another folder than the sources: the page's files must still be found.
      for (const [asset, type, content] of [['/', 'text/html', '<html'], ['/dashboard.js', 'text/javascript', 'uPlot'], ['/uplot.min.js', 'text/javascript', 'uPlot']]) {
        const page = await get(`http://127.0.0.1:${port}${asset}`);
        assert.equal(page.status, 200, `${asset}: ${page.body.slice(0, 200)}`);
        assert.ok(page.type.startsWith(type as string), `${asset} is served as ${page.type}`);
        assert.ok(page.body.includes(content as string), `${asset} has its content`);
      }
      await catchUp(file);
      await until('the backlog to drain, as /metrics says', async () =>
        metric((await get(`http://127.0.0.1:${port}/metrics`)).body, 'ferry_queue_pending_events', { group: 'backlog' }) === 0, 20_000);
    } finally {
      ferry.child.kill('SIGTERM');
      const result = await ferry.result;
      assert.equal(result.code, 0, result.stderr.slice(-2000));
      assert.match(result.stderr, /serving \/metrics, \/status, \/healthz and the dashboard/);
    }
  });
});

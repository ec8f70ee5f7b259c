import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { collectStatus } from '../src/observe/status.js';
import { assertSameRows, catchUp, cli, init, startPair, triggerConfig, until, type CliResult, type Pair } from './support/harness.js';

const GROUPS = ['ga', 'gb', 'gc'];

/** The groups a `ferry run --log-format json` says it streams, from its log so far. */
function streamedGroups(stderr: string): Set<string> {
  const out = new Set<string>();
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { msg?: string; group?: string };
    if (entry.msg === 'streaming' && entry.group) out.add(entry.group);
  }
  return out;
}

/**
 * Two `ferry run` for the same groups started at the same moment (a restart
 * racing a process still shutting down, or a second one started by mistake):
 * each takes some groups and waits for the others. When one is stopped or
 * killed, the survivor takes its groups over; being refused a group is not
 * the group's error.
 */
for (const capture of ['wal', 'trigger'] as const) {
  describe(`two ferry run processes for the same groups (${capture} capture)`, () => {
    let pair: Pair;
    let config: string;

    before(async () => {
      pair = await startPair();
      await pair.sql('source', GROUPS.map((g) => `CREATE TABLE t_${g} (id int PRIMARY KEY, v int NOT NULL);`).join('\n'));
      const groups = Object.fromEntries(GROUPS.map((g) => [g, [`public.t_${g}`]]));
      config = capture === 'wal' ? await pair.config(groups) : await triggerConfig(pair, groups);
      await init(config);
    });

    after(async () => {
      await pair?.stop();
    });

    let next = 0;
    async function writeEveryGroup(rows: number): Promise<void> {
      const from = next + 1;
      next += rows;
      for (const g of GROUPS) await pair.sql('source', `INSERT INTO t_${g} SELECT i, i FROM generate_series(${from}, ${next}) i`);
    }

    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      test(`started together, one ${signal === 'SIGTERM' ? 'stopped' : 'killed with SIGKILL'}: the survivor applies every group`, async (t) => {
        const processes = [cli(['run', '-c', config, '--log-format', 'json']), cli(['run', '-c', config, '--log-format', 'json'])];
        const stderr = ['', ''];
        processes.forEach((p, i) => p.child.stderr?.on('data', (d: Buffer) => { stderr[i] += d.toString(); }));
        let survivor: (typeof processes)[number] | undefined;
        try {
          await until('every group to be streamed by one of the two', async () =>
            GROUPS.every((g) => streamedGroups(stderr[0] ?? '').has(g) || streamedGroups(stderr[1] ?? '').has(g)));
          await writeEveryGroup(100);
          await catchUp(config);
          // Stop the one that holds groups (if one took them all, that one).
          const victimIndex = streamedGroups(stderr[0] ?? '').size > 0 ? 0 : 1;
          const victim = processes[victimIndex] as (typeof processes)[number];
          survivor = processes[1 - victimIndex];
          const taken = [...streamedGroups(stderr[victimIndex] ?? '')];
          t.diagnostic(`the stopped process held ${taken.join(', ')}`);
          assert.ok(taken.length > 0);
          victim.child.kill(signal);
          const ended: CliResult = await victim.result;
          if (signal === 'SIGTERM') assert.equal(ended.code, 0, ended.stderr.slice(-2000));
          await writeEveryGroup(100);
          await catchUp(config);
          for (const g of GROUPS) assert.equal(await assertSameRows(pair, `t_${g}`), next, `t_${g} is complete on the target`);
          const survived = streamedGroups(stderr[1 - victimIndex] ?? '');
          for (const g of taken) assert.ok(survived.has(g), `the survivor took over group ${g}`);
          const status = await collectStatus(await loadConfig(config));
          for (const g of status) {
            assert.equal(g.state, 'streaming', `group ${g.group} is streaming`);
            assert.equal(g.lastError, null, `group ${g.group} has no error recorded (waiting for a group is not one)`);
          }
          assert.doesNotMatch(stderr.join('\n'), /FERRY_GROUP_LOCKED|"level":50/, 'no error was logged');
        } finally {
          for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
          if (survivor) {
            const result = await survivor.result;
            assert.equal(result.code, 0, `the survivor stops cleanly: ${result.stderr.slice(-2000)}`);
          }
          await Promise.all(processes.map((p) => p.result));
        }
      });
    }
  });
}

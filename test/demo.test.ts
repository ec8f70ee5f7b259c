import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cliRun } from './support/harness.js';

/*
 * `ferry demo` as the README's quick start runs it, from the built CLI:
 * throwaway servers, init, run under a live workload, status, wait, verify,
 * drop. It must end with the target equal to the source, whichever source.
 */
describe('ferry demo', () => {
  for (const source of ['postgresql', 'mariadb'] as const) {
    test(`--source ${source}: a live workload replicated, caught up, verified equal, cleaned up`, async () => {
      const { code, stdout, stderr } = await cliRun(['demo', '--source', source, '--seconds', '3']);
      assert.equal(code, 0, `${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
      assert.match(stdout, /\$ ferry init[\s\S]*sales\s+initialised\s+2\s+6000/);
      assert.match(stdout, /sales\s+streaming/, 'status shows the group streaming while the workload runs');
      assert.match(stdout, /Workload stopped after [1-9]\d* transactions/);
      assert.match(stdout, /Source and target are equal\./);
      assert.match(stdout, /Demo finished: the target is an exact copy of the source\./);
      assert.doesNotMatch(stdout, /ferry_repl:ferry_repl|postgres:[^@/]+@/, 'no password is shown');
    });
  }
});

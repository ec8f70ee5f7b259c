import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatStatus } from '../src/cli/output.js';
import type { GroupStatus } from '../src/observe/status.js';

/* `ferry status` as text, without a server: the lines under the table. */

function group(name: string, ddlCapture: boolean | null): GroupStatus {
  return {
    group: name, state: 'streaming', appliedPosition: '0/10', sourcePosition: '0/10', lagBytes: 0, lagSeconds: 0, rowsApplied: 0,
    transactionsApplied: 0, batches: { setBased: 0, inOrder: 0 }, lastAppliedAt: null, slot: null, lastError: null, lastErrorAt: null,
    copy: null, heldChanges: 0, ddlCapture,
  };
}

const ddlLines = (groups: GroupStatus[]) => formatStatus(groups).split('\n').filter((l) => l.includes('DDL capture'));

describe('ferry status text', () => {
  test('DDL capture is one line when every group is the same, a line per group otherwise', () => {
    assert.deepEqual(ddlLines([group('a', false), group('b', false)]), ['DDL capture off for every group']);
    assert.deepEqual(ddlLines([group('a', true), group('b', false)]), ['a: DDL capture on', 'b: DDL capture off']);
    assert.deepEqual(ddlLines([group('a', null)]), ['a: DDL capture unknown (the source role may not read it)']);
  });
});

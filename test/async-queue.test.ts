import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AsyncQueue } from '../src/util/async-queue.js';

/*
 * The queue between the socket and the batcher, without a server: whatever
 * the mix of pushes and takes, every item comes out once, in order, and the
 * producer is paused above the high-water mark and resumed at half of it.
 */

/** `push n` pushes the next n numbers; `take n` takes up to n at once (shiftMany); `one` takes one (shift). */
type Step = { readonly push: number } | { readonly take: number } | 'one';

interface Case {
  readonly name: string;
  readonly highWater: number;
  readonly steps: readonly Step[];
  /** Sizes of what each take returned, and the pause/resume calls in order. */
  readonly taken: readonly number[];
  readonly flow: readonly string[];
}

const cases: readonly Case[] = [
  { name: 'a take drains what is there', highWater: 100, steps: [{ push: 3 }, { take: 10 }], taken: [3], flow: [] },
  { name: 'a take stops at its limit', highWater: 100, steps: [{ push: 5 }, { take: 2 }, { take: 2 }, { take: 2 }], taken: [2, 2, 1], flow: [] },
  {
    name: 'a queue that never drains hands out everything once, in order, across many takes',
    highWater: 1_000_000,
    steps: [{ push: 9000 }, { take: 4096 }, { push: 9000 }, { take: 4096 }, { take: 4096 }, { push: 100 }, { take: 4096 }, { take: 4096 }],
    taken: [4096, 4096, 4096, 4096, 1716],
    flow: [],
  },
  {
    name: 'single takes and takes of many mix',
    highWater: 1_000_000,
    steps: [{ push: 10_000 }, 'one', { take: 4096 }, 'one', { take: 8000 }, { push: 2 }, 'one', { take: 5 }],
    taken: [1, 4096, 1, 5902, 1, 1],
    flow: [],
  },
  {
    name: 'the producer pauses at the high-water mark and resumes at half of it',
    highWater: 10,
    steps: [{ push: 12 }, { take: 3 }, { take: 3 }, { push: 1 }, { take: 100 }],
    taken: [3, 3, 7],
    flow: ['pause', 'resume'],
  },
];

describe('async queue', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const flow: string[] = [];
      const queue = new AsyncQueue<number>(c.highWater, () => flow.push('pause'), () => flow.push('resume'));
      let next = 0;
      const out: number[] = [];
      const taken: number[] = [];
      for (const step of c.steps) {
        if (step === 'one') {
          const item = await queue.shift();
          if (item !== undefined) out.push(item);
          taken.push(1);
        } else if ('push' in step) {
          for (let i = 0; i < step.push; i++) queue.push(next++);
        } else {
          const items = await queue.shiftMany(step.take) ?? [];
          out.push(...items);
          taken.push(items.length);
        }
      }
      assert.deepEqual(taken, c.taken, 'sizes taken');
      assert.deepEqual(flow, c.flow, 'pause and resume');
      // Everything taken so far is the first items pushed, each once and in order.
      assert.deepEqual(out, Array.from({ length: out.length }, (_, i) => i), 'items in order');
      queue.end();
      const rest = await queue.shiftMany(1_000_000) ?? [];
      assert.deepEqual([...out, ...rest], Array.from({ length: next }, (_, i) => i), 'every item once');
    });
  }
});

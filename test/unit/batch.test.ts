import { describe, expect, it } from 'vitest';
import { type BatchJob, type BatchLimits, FolderBatcher } from '../../src/imap/batch.js';

type Job = BatchJob<number, string>;

/** A batcher whose runBatch records each batch and settles it with `settle` (default: answer all). */
function recording(
  limits: Partial<BatchLimits> = {},
  settle: (folder: string, jobs: Job[]) => Promise<void> | void = (_f, jobs) => {
    for (const j of jobs) j.resolve(`r${j.item}`);
  },
  leftover?: () => string,
) {
  const batches: Array<{ folder: string; items: number[] }> = [];
  const batcher = new FolderBatcher<number, string>(
    async (folder, jobs) => {
      batches.push({ folder, items: jobs.map((j) => j.item) });
      await settle(folder, jobs);
    },
    { maxMessages: 1000, maxBytes: 1e9, ...limits },
    leftover,
  );
  return { batcher, batches };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

// A batcher that stops draining leaves callers hanging: fail fast instead of at the 120 s default.
describe('FolderBatcher', { timeout: 5_000 }, () => {
  it('gathers the calls of one turn into one batch and answers each caller', async () => {
    const { batcher, batches } = recording();
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => batcher.add('INBOX', i, 10)));
    expect(batches).toEqual([{ folder: 'INBOX', items: [1, 2, 3, 4, 5] }]);
    expect(results).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
    // Idle again: a later call starts a batch of its own.
    expect(await batcher.add('INBOX', 6, 10)).toBe('r6');
    expect(batches[1]).toEqual({ folder: 'INBOX', items: [6] });
  });

  it('splits a folder into batches of at most maxMessages, in call order', async () => {
    const { batcher, batches } = recording({ maxMessages: 3 });
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((i) => batcher.add('INBOX', i, 1)));
    expect(batches.map((b) => b.items)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('splits by maxBytes (a batch may reach it exactly); a job over maxBytes goes alone', async () => {
    const { batcher, batches } = recording({ maxBytes: 100 });
    const sizes = [40, 60, 30, 150, 10, 60, 50];
    await Promise.all(sizes.map((size) => batcher.add('INBOX', size, size)));
    expect(batches.map((b) => b.items)).toEqual([[40, 60], [30], [150], [10, 60], [50]]);
  });

  it('lets folders take turns, one batch each, instead of draining one folder first', async () => {
    const { batcher, batches } = recording({ maxMessages: 2 });
    const calls = [
      ...[1, 2, 3, 4, 5].map((i) => batcher.add('A', i, 1)),
      ...[11, 12, 13].map((i) => batcher.add('B', i, 1)),
      batcher.add('C', 21, 1),
    ];
    await Promise.all(calls);
    expect(batches).toEqual([
      { folder: 'A', items: [1, 2] },
      { folder: 'B', items: [11, 12] },
      { folder: 'C', items: [21] },
      { folder: 'A', items: [3, 4] },
      { folder: 'B', items: [13] },
      { folder: 'A', items: [5] },
    ]);
  });

  it('resolves a job the batch left unanswered to leftover()', async () => {
    const { batcher } = recording(
      {},
      (_f, jobs) => {
        for (const j of jobs) if (j.item % 2 === 0) j.resolve(`r${j.item}`);
      },
      () => 'gone',
    );
    const results = await Promise.all([1, 2, 3, 4].map((i) => batcher.add('INBOX', i, 1)));
    expect(results).toEqual(['gone', 'r2', 'gone', 'r4']);
  });

  it('without leftover, rejects a job the batch left unanswered and keeps the answered ones', async () => {
    const { batcher } = recording({}, (_f, jobs) => {
      jobs[0]!.resolve('first');
      jobs[2]!.reject(new Error('refused'));
    });
    const results = await Promise.allSettled([1, 2, 3].map((i) => batcher.add('INBOX', i, 1)));
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'first' });
    expect(results[1]).toMatchObject({
      status: 'rejected',
      reason: { message: expect.stringMatching(/answer/) },
    });
    expect(results[2]).toMatchObject({ status: 'rejected', reason: { message: 'refused' } });
  });

  it('a job settles once: a second answer from the batch does not change it', async () => {
    const { batcher } = recording({}, (_f, jobs) => {
      jobs[0]!.resolve('first');
      jobs[0]!.resolve('second');
      jobs[0]!.reject(new Error('late'));
    });
    expect(await batcher.add('INBOX', 1, 1)).toBe('first');
  });

  it('when runBatch throws, its unsettled jobs reject with that error and later batches still run', async () => {
    const boom = new Error('connection lost');
    const { batcher, batches } = recording(
      { maxMessages: 3 },
      (_f, jobs) => {
        if (jobs[0]!.item !== 1) {
          for (const j of jobs) j.resolve(`r${j.item}`);
          return;
        }
        jobs[0]!.resolve('saved');
        throw boom;
      },
      () => 'leftover is only for batches that finished',
    );
    const results = await Promise.allSettled([1, 2, 3, 4].map((i) => batcher.add('INBOX', i, 1)));
    expect(batches.map((b) => b.items)).toEqual([[1, 2, 3], [4]]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'saved' });
    expect(results[1]).toEqual({ status: 'rejected', reason: boom });
    expect(results[2]).toEqual({ status: 'rejected', reason: boom });
    expect(results[3]).toEqual({ status: 'fulfilled', value: 'r4' });
  });

  it('runs one batch at a time; calls made meanwhile gather into the next batch', async () => {
    const gate = deferred();
    const { batcher, batches } = recording({}, async (_f, jobs) => {
      if (jobs[0]!.item === 1) await gate.promise;
      for (const j of jobs) j.resolve(`r${j.item}`);
    });
    const first = batcher.add('INBOX', 1, 1);
    await turn();
    expect(batches).toHaveLength(1);
    // Spread over several turns while the first batch is still on the wire.
    const later = [batcher.add('INBOX', 2, 1)];
    await turn();
    later.push(batcher.add('Other', 3, 1));
    await turn();
    later.push(batcher.add('INBOX', 4, 1));
    await turn();
    expect(batches).toHaveLength(1);
    gate.resolve();
    expect(await Promise.all([first, ...later])).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(batches).toEqual([
      { folder: 'INBOX', items: [1] },
      { folder: 'INBOX', items: [2, 4] },
      { folder: 'Other', items: [3] },
    ]);
  });
});

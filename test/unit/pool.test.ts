import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/run/budget.js';
import { SessionPool } from '../../src/run/pool.js';

class FakeSession {
  closed = 0;
  constructor(readonly id: number) {}
  async close(): Promise<void> {
    this.closed++;
  }
}

/** A factory whose sessions connect at once, or (held) only when the test says so. */
function factory(held = false) {
  let calls = 0;
  const connecting: Array<{ ok: () => void; fail: (err: Error) => void }> = [];
  const open = (): Promise<FakeSession> => {
    const s = new FakeSession(++calls);
    if (!held) return Promise.resolve(s);
    return new Promise((resolve, reject) => {
      connecting.push({ ok: () => resolve(s), fail: reject });
    });
  };
  return { open, connecting, calls: () => calls };
}

/** Whether a promise has settled once pending callbacks and one event-loop turn have run. */
async function state(p: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  const turn = new Promise<'pending'>((r) => setImmediate(() => r('pending')));
  return Promise.race([
    p.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    turn,
  ]);
}

const turn = () => new Promise<void>((r) => setImmediate(r));

const ids = (sessions: FakeSession[]) => sessions.map((s) => s.id);

// A lost wake-up leaves a caller hanging: fail fast instead of at the 120 s default.
describe('SessionPool, shared (depth)', { timeout: 5_000 }, () => {
  it('fills each session to depth before opening another, then shares the least loaded', async () => {
    const f = factory();
    const pool = new SessionPool(f.open, 3, 2);
    const got: FakeSession[] = [];
    for (let i = 0; i < 6; i++) got.push(await pool.acquire());
    expect(ids(got)).toEqual([1, 1, 2, 2, 3, 3]);
    // At max, a session takes more than depth holders rather than a caller waiting.
    expect((await pool.acquire()).id).toBe(1);
    pool.release(got[2]!);
    pool.release(got[3]!);
    pool.release(got[4]!);
    expect((await pool.acquire()).id).toBe(2);
    expect((await pool.acquire()).id).toBe(2);
    expect((await pool.acquire()).id).toBe(3);
    expect(f.calls()).toBe(3);
  });

  it('reuses a released session instead of opening a new one', async () => {
    const f = factory();
    const pool = new SessionPool(f.open, 4, 1);
    const a = await pool.acquire();
    pool.release(a);
    expect(await pool.acquire()).toBe(a);
    expect(f.calls()).toBe(1);
  });

  it('hands out an adopted session without opening one', async () => {
    const f = factory();
    const pool = new SessionPool(f.open, 2, 2);
    const planner = new FakeSession(99);
    pool.adopt(planner);
    expect(await pool.acquire()).toBe(planner);
    expect(await pool.acquire()).toBe(planner);
    expect(f.calls()).toBe(0);
    expect((await pool.acquire()).id).toBe(1);
  });

  it('never opens more than max while sessions are still connecting', async () => {
    const f = factory(true);
    const pool = new SessionPool(f.open, 2, 1);
    const acquires = Array.from({ length: 6 }, () => pool.acquire());
    await turn();
    expect(f.calls()).toBe(2);
    for (const c of f.connecting) c.ok();
    const got = await Promise.all(acquires);
    expect(new Set(ids(got))).toEqual(new Set([1, 2]));
    expect(f.calls()).toBe(2);
  });

  // A waiter handed a session that was still connecting counts in its load like anyone else.
  it('counts callers that waited for a connecting session in its load', async () => {
    const f = factory(true);
    const pool = new SessionPool(f.open, 2, 2);
    // 1 and 2 open the two allowed sessions; 3 and 4 wait for whichever connects first.
    const acquires = Array.from({ length: 4 }, () => pool.acquire());
    await turn();
    f.connecting[0]!.ok();
    await turn();
    f.connecting[1]!.ok();
    const got = await Promise.all(acquires);
    expect(ids(got)).toEqual([1, 2, 1, 1]);
    // Session 1 has three holders, session 2 one: the next caller belongs on session 2.
    expect((await pool.acquire()).id).toBe(2);
  });

  it('a session that fails to connect does not strand the callers waiting for it', async () => {
    const f = factory(true);
    const pool = new SessionPool(f.open, 1, 4);
    const first = pool.acquire();
    const second = pool.acquire();
    await state(first);
    expect(f.calls()).toBe(1);
    f.connecting[0]!.fail(new Error('refused'));
    await expect(first).rejects.toThrow('refused');
    // The slot is free again: the waiter opens a session of its own.
    await state(second);
    expect(f.connecting).toHaveLength(2);
    f.connecting[1]!.ok();
    expect((await second).id).toBe(2);
  });

  it('release(broken) closes the session once, even if several holders report it, and replaces it', async () => {
    const f = factory();
    const pool = new SessionPool(f.open, 1, 4);
    const a = await pool.acquire();
    expect(await pool.acquire()).toBe(a);
    pool.release(a, true);
    pool.release(a, true);
    expect(a.closed).toBe(1);
    const b = await pool.acquire();
    expect(b).not.toBe(a);
    expect(f.calls()).toBe(2);
  });

  it('closeAll closes every open session once', async () => {
    const f = factory();
    const pool = new SessionPool(f.open, 2, 1);
    const a = await pool.acquire();
    const b = await pool.acquire();
    pool.release(a);
    await pool.closeAll();
    expect([a.closed, b.closed]).toEqual([1, 1]);
  });
});

describe('SessionPool, exclusive (no depth)', { timeout: 5_000 }, () => {
  it('lends each session to one holder; callers beyond max wait in order for a release', async () => {
    const f = factory();
    const pool = new SessionPool(f.open, 2);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(a).not.toBe(b);
    const third = pool.acquire();
    const fourth = pool.acquire();
    expect(await state(third)).toBe('pending');
    pool.release(b);
    expect(await third).toBe(b);
    expect(await state(fourth)).toBe('pending');
    pool.release(a);
    expect(await fourth).toBe(a);
    expect(f.calls()).toBe(2);
  });

  it('reuses an idle session', async () => {
    const f = factory();
    const pool = new SessionPool(f.open, 3);
    const a = await pool.acquire();
    pool.release(a);
    expect(await pool.acquire()).toBe(a);
    expect(f.calls()).toBe(1);
  });

  it('a broken session is closed, and the next waiter gets a freshly opened one', async () => {
    const f = factory();
    const pool = new SessionPool(f.open, 1);
    const a = await pool.acquire();
    const waiter = pool.acquire();
    expect(await state(waiter)).toBe('pending');
    pool.release(a, true);
    const b = await waiter;
    expect(a.closed).toBe(1);
    expect(b).not.toBe(a);
    expect(b.closed).toBe(0);
    expect(f.calls()).toBe(2);
  });
});

describe('ByteBudget', { timeout: 5_000 }, () => {
  it('lets takes through up to the limit; the next one waits until enough is given back', async () => {
    const budget = new ByteBudget(100);
    await budget.take(60);
    await budget.take(40);
    const over = budget.take(1);
    expect(await state(over)).toBe('pending');
    budget.give(40);
    expect(await state(over)).toBe('resolved');
  });

  it('runs a take bigger than the limit alone: once nothing is in use, and holding off the rest', async () => {
    const budget = new ByteBudget(100);
    await budget.take(10);
    const big = budget.take(500);
    expect(await state(big)).toBe('pending');
    budget.give(10);
    expect(await state(big)).toBe('resolved');
    const small = budget.take(1);
    expect(await state(small)).toBe('pending');
    budget.give(500);
    expect(await state(small)).toBe('resolved');
    // With nothing in use, a big one goes at once.
    budget.give(1);
    expect(await state(budget.take(1000))).toBe('resolved');
  });

  it('wakes waiters in order: a big one at the head is not overtaken by smaller ones that fit', async () => {
    const budget = new ByteBudget(100);
    const order: string[] = [];
    await budget.take(70);
    const big = budget.take(50).then(() => order.push('big'));
    // 70 + 20 fits, but the big waiter came first.
    const small = budget.take(20).then(() => order.push('small'));
    expect(await state(big)).toBe('pending');
    expect(await state(small)).toBe('pending');
    budget.give(70);
    await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
  });

  it('wakes as many waiters as fit, and stops at the first that does not', async () => {
    const budget = new ByteBudget(100);
    await budget.take(100);
    const a = budget.take(30);
    const b = budget.take(30);
    const c = budget.take(50);
    const d = budget.take(10);
    budget.give(100);
    expect(await state(a)).toBe('resolved');
    expect(await state(b)).toBe('resolved');
    expect(await state(c)).toBe('pending');
    expect(await state(d)).toBe('pending');
    budget.give(30);
    expect(await state(c)).toBe('resolved');
    expect(await state(d)).toBe('resolved');
  });
});

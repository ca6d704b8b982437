import { Counters } from '../run/progress.js';
import { sleep } from '../util/timers.js';
import type { BatchAccount } from './accounts.js';
import { HostLimiter, type HostNeeds, pairNeeds } from './hosts.js';
import { emptyResult, type PairResult, type PairSettings, runPair } from './pair.js';

export interface BatchOptions {
  /** Pairs running at once. */
  jobs: number;
  /** Most of our connections on one server (host:port) at once. */
  perHost: number;
  pair: PairSettings;
  /** Exit 4 (quota, daily limit): wait this long, then try the pair again. */
  quotaWaitMs: number;
  quotaRetries: number;
  signal: AbortSignal;
  /** Runs one pair; the default copies in this process (tests and the bench may swap it). */
  runOne?: typeof runPair;
}

export interface BatchWatcher {
  /** A pair changed state (its counters are live while it runs). */
  changed?(r: PairResult, counters: Counters | undefined): void;
}

interface Slot {
  account: BatchAccount;
  result: PairResult;
  needs: HostNeeds;
  connections: number;
  counters?: Counters;
  readyAt: number;
}

const FINAL = new Set(['done', 'failed', 'unreachable', 'quota', 'invalid', 'interrupted', 'error']);

export function isFinal(state: string): boolean {
  return FINAL.has(state);
}

/**
 * Runs every pair of a batch on this machine: at most `jobs` at once, never more than
 * `perHost` connections on one server. A pair whose hosts are full waits while others
 * whose hosts are free go ahead. Each pair resumes from its own state directory.
 */
export class BatchRunner {
  readonly limiter: HostLimiter;
  private readonly slots: Slot[];
  private running = 0;
  private wake: (() => void) | undefined;

  constructor(
    accounts: BatchAccount[],
    private readonly o: BatchOptions,
    private readonly watch: BatchWatcher = {},
  ) {
    this.limiter = new HostLimiter(o.perHost);
    this.slots = accounts.map((account) => {
      const { needs, connections } = pairNeeds(account, account.connections ?? o.pair.connections, o.perHost);
      return { account, result: emptyResult(account), needs, connections, readyAt: 0 };
    });
  }

  results(): PairResult[] {
    return this.slots.map((s) => s.result);
  }

  counters(): Array<{ result: PairResult; counters: Counters | undefined }> {
    return this.slots.map((s) => ({ result: s.result, counters: s.counters }));
  }

  async run(): Promise<PairResult[]> {
    const inFlight = new Set<Promise<void>>();
    const onAbort = () => this.wake?.();
    this.o.signal.addEventListener('abort', onAbort, { once: true });
    for (;;) {
      if (this.o.signal.aborted) break;
      const now = Date.now();
      while (this.running < this.o.jobs) {
        const next = this.pick(now);
        if (!next) break;
        const p = this.start(next).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      const open = this.slots.filter((s) => !isFinal(s.result.state));
      if (!open.length) break;
      const waits = open.filter((s) => s.result.state === 'quota-wait').map((s) => s.readyAt - now);
      await this.nap(waits.length && this.running === 0 ? Math.max(0, Math.min(...waits)) : 1000);
    }
    await Promise.all(inFlight);
    this.o.signal.removeEventListener('abort', onAbort);
    for (const s of this.slots) if (!isFinal(s.result.state)) this.set(s, 'interrupted');
    return this.results();
  }

  /** The first pair that is due and whose servers have room. */
  private pick(now: number): Slot | undefined {
    for (const s of this.slots) {
      const st = s.result.state;
      const due = st === 'queued' || (st === 'quota-wait' && s.readyAt <= now);
      if (due && this.limiter.tryAcquire(s.needs)) return s;
    }
    return undefined;
  }

  private async start(s: Slot): Promise<void> {
    this.running++;
    s.counters = new Counters();
    const attempts = s.result.attempts + 1;
    this.set(s, 'running');
    try {
      const run = this.o.runOne ?? runPair;
      const r = await run(
        s.account,
        { ...this.o.pair, connections: s.connections },
        s.counters,
        this.o.signal,
      );
      s.result = { ...r, attempts };
    } finally {
      this.limiter.release(s.needs);
      this.running--;
    }
    if (s.result.state === 'quota' && attempts <= this.o.quotaRetries && !this.o.signal.aborted) {
      s.readyAt = Date.now() + this.o.quotaWaitMs;
      this.set(s, 'quota-wait');
    } else this.watch.changed?.(s.result, s.counters);
    this.wake?.();
  }

  private set(s: Slot, state: PairResult['state']): void {
    s.result = { ...s.result, state };
    this.watch.changed?.(s.result, s.counters);
  }

  private async nap(ms: number): Promise<void> {
    const ac = new AbortController();
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    await Promise.race([woken, sleep(ms, ac.signal).catch(() => undefined)]);
    ac.abort();
    this.wake = undefined;
  }
}

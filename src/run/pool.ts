/**
 * Sessions (one connection each) handed to workers. A broken session is closed and dropped;
 * the next acquire opens a fresh one, since an imapflow instance cannot reconnect.
 *
 * Exclusive pools lend each session to one worker at a time. Shared pools (POP3, files, and
 * IMAP, whose sessions batch concurrent calls on the wire) lend a session to many workers at
 * once: the least busy one, and a new one only when every open session already has `depth`
 * workers, so batches stay large and connections few.
 */
export class SessionPool<T extends { close(): Promise<void> }> {
  private readonly idle: T[] = [];
  private readonly waiters: Array<{ resolve: (t: T) => void; reject: (err: unknown) => void }> = [];
  private open = 0;
  private readonly all = new Set<T>();
  /** Shared mode: workers per session, and sessions still connecting. */
  private readonly load = new Map<T, number>();
  private readonly pending: Array<Promise<T>> = [];

  constructor(
    private readonly factory: () => Promise<T>,
    private readonly max: number,
    private readonly depth?: number,
  ) {}

  private get isShared(): boolean {
    return this.depth !== undefined;
  }

  /** Hands over a session opened elsewhere (the planner's), so it is not opened twice. */
  adopt(t: T): void {
    this.all.add(t);
    this.open++;
    if (this.isShared) this.load.set(t, 0);
    else this.idle.push(t);
  }

  async acquire(): Promise<T> {
    if (this.isShared) return this.acquireShared();
    const t = this.idle.pop();
    if (t) return t;
    if (this.open < this.max) return this.create();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private async acquireShared(): Promise<T> {
    let best: T | undefined;
    for (const [t, n] of this.load) if (best === undefined || n < this.load.get(best)!) best = t;
    const busy = best === undefined || this.load.get(best)! >= this.depth!;
    if (busy && this.open < this.max) {
      const p = this.create();
      this.pending.push(p);
      const done = () => this.pending.splice(this.pending.indexOf(p), 1);
      p.then(done, done);
      const t = await p;
      this.load.set(t, (this.load.get(t) ?? 0) + 1);
      return t;
    }
    // Every slot is taken by sessions still connecting: wait for one of them.
    if (best === undefined) {
      const t = await Promise.any(this.pending).catch(() => undefined);
      if (!t || !this.load.has(t)) return this.acquireShared();
      this.load.set(t, this.load.get(t)! + 1);
      return t;
    }
    this.load.set(best, this.load.get(best)! + 1);
    return best;
  }

  private async create(): Promise<T> {
    this.open++;
    try {
      const t = await this.factory();
      this.all.add(t);
      if (this.isShared) this.load.set(t, 0);
      return t;
    } catch (err) {
      this.open--;
      this.wakeForCreate();
      throw err;
    }
  }

  /** A slot came free: the next waiter opens its own session, and hears of it if that fails. */
  private wakeForCreate(): void {
    const w = this.waiters.shift();
    if (w) this.create().then(w.resolve, w.reject);
  }

  release(t: T, broken = false): void {
    if (this.isShared) {
      const n = this.load.get(t);
      if (n !== undefined) this.load.set(t, Math.max(0, n - 1));
    }
    if (broken) {
      this.discard(t);
      return;
    }
    if (this.isShared) return;
    const w = this.waiters.shift();
    if (w) w.resolve(t);
    else this.idle.push(t);
  }

  private discard(t: T): void {
    if (!this.all.delete(t)) return;
    this.open--;
    this.load.delete(t);
    const i = this.idle.indexOf(t);
    if (i >= 0) this.idle.splice(i, 1);
    t.close().catch(() => undefined);
    if (!this.isShared) this.wakeForCreate();
  }

  async closeAll(): Promise<void> {
    const all = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    this.load.clear();
    this.open = 0;
    await Promise.allSettled(all.map((t) => t.close()));
  }
}

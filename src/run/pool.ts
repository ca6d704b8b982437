/**
 * Sessions (one connection each) handed to workers. A broken session is closed and dropped;
 * the next acquire opens a fresh one, since an imapflow instance cannot reconnect.
 * A shared pool (file sinks) hands the same session to every worker; the sink serialises.
 */
export class SessionPool<T extends { close(): Promise<void> }> {
  private readonly idle: T[] = [];
  private readonly waiters: Array<{ resolve: (t: T) => void; reject: (err: unknown) => void }> = [];
  private open = 0;
  private shared: Promise<T> | undefined;
  private readonly all = new Set<T>();

  constructor(
    private readonly factory: () => Promise<T>,
    private readonly max: number,
    private readonly isShared = false,
  ) {}

  /** Hands over a session opened elsewhere (the planner's), so it is not opened twice. */
  adopt(t: T): void {
    this.all.add(t);
    this.open++;
    if (this.isShared) this.shared = Promise.resolve(t);
    else this.idle.push(t);
  }

  async acquire(): Promise<T> {
    if (this.isShared) {
      this.shared ??= this.create().catch((err) => {
        this.shared = undefined;
        throw err;
      });
      return this.shared;
    }
    const t = this.idle.pop();
    if (t) return t;
    if (this.open < this.max) return this.create();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private async create(): Promise<T> {
    this.open++;
    try {
      const t = await this.factory();
      this.all.add(t);
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
    if (this.isShared) this.shared = undefined;
    const i = this.idle.indexOf(t);
    if (i >= 0) this.idle.splice(i, 1);
    t.close().catch(() => undefined);
    if (!this.isShared) this.wakeForCreate();
  }

  async closeAll(): Promise<void> {
    const all = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    this.shared = undefined;
    this.open = 0;
    await Promise.allSettled(all.map((t) => t.close()));
  }
}

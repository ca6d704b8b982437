/**
 * Turns concurrent single-message calls into one command per batch and folder. imapflow sends
 * one command at a time, so a FETCH or APPEND per message costs a round trip and a server
 * wake-up each; batching the calls that are waiting (as mbsync pipelines) removes both.
 * While one batch is on the wire the next one gathers, so batches grow with the load.
 */

export interface BatchJob<T, R> {
  item: T;
  size: number;
  resolve(result: R): void;
  reject(err: unknown): void;
}

export interface BatchLimits {
  maxMessages: number;
  maxBytes: number;
}

/** Runs one batch; settles each job as its answer comes. Jobs it leaves unsettled get `leftover`. */
export type RunBatch<T, R> = (folder: string, jobs: Array<BatchJob<T, R>>) => Promise<void>;

export class FolderBatcher<T, R> {
  /** Waiting calls per folder; folders take turns. */
  private readonly queues = new Map<string, Array<BatchJob<T, R>>>();
  private running = false;

  constructor(
    private readonly runBatch: RunBatch<T, R>,
    private readonly limits: BatchLimits,
    /** What a job the batch did not answer resolves to; undefined rejects it instead. */
    private readonly leftover?: () => R,
  ) {}

  add(folder: string, item: T, size: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const q = this.queues.get(folder) ?? [];
      this.queues.set(folder, q);
      let settled = false;
      q.push({
        item,
        size,
        resolve: (r) => {
          if (!settled) resolve(r);
          settled = true;
        },
        reject: (e) => {
          if (!settled) reject(e);
          settled = true;
        },
      });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    // One turn of the event loop lets the calls started together join one batch.
    setImmediate(() => void this.drain());
  }

  private take(): { folder: string; jobs: Array<BatchJob<T, R>> } | undefined {
    for (const [folder, q] of this.queues) {
      this.queues.delete(folder);
      let bytes = 0;
      let n = 0;
      const { maxMessages, maxBytes } = this.limits;
      while (n < q.length && n < maxMessages && (n === 0 || bytes + q[n]!.size <= maxBytes)) {
        bytes += q[n]!.size;
        n++;
      }
      const jobs = q.splice(0, n);
      // Back of the line, so one busy folder does not starve the others.
      if (q.length) this.queues.set(folder, q);
      if (jobs.length) return { folder, jobs };
    }
    return undefined;
  }

  private async drain(): Promise<void> {
    for (let next = this.take(); next; next = this.take()) {
      try {
        await this.runBatch(next.folder, next.jobs);
        const rest = this.leftover;
        const unanswered = new Error('the server did not answer for this message');
        for (const j of next.jobs) {
          if (rest) j.resolve(rest());
          else j.reject(unanswered);
        }
      } catch (err) {
        for (const j of next.jobs) j.reject(err);
      }
    }
    this.running = false;
  }
}

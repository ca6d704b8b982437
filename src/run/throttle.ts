import { Transform, type TransformCallback } from 'node:stream';
import { sleep } from '../util/timers.js';

/**
 * A token bucket for bytes per second. p-queue limits how often tasks start, not how many
 * bytes they move, so every message stream passes through one shared bucket.
 */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst = Math.max(ratePerSecond, 64 * 1024),
    /** Ctrl-C ends a wait at once: at a slow rate one chunk can wait for hours. */
    private readonly signal?: AbortSignal,
  ) {
    // One second's worth to start: a full burst would let a slow limit pass whole messages at once.
    this.tokens = Math.min(this.burst, ratePerSecond);
  }

  /** Waits until n tokens are available; a chunk larger than the burst goes in slices. */
  async take(n: number): Promise<void> {
    let need = n;
    while (need > 0) {
      this.refill();
      const slice = Math.min(need, this.burst);
      if (this.tokens >= slice) {
        this.tokens -= slice;
        need -= slice;
        continue;
      }
      await sleep(Math.ceil(((slice - this.tokens) / this.ratePerSecond) * 1000), this.signal);
    }
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
  }
}

/**
 * Passes bytes through, waiting on the bucket and showing each chunk to `onChunk` (counters,
 * hashing). Being a step of the pipe, it never starts the flow before the sink reads.
 */
export class MeteredStream extends Transform {
  constructor(
    private readonly bucket: TokenBucket | undefined,
    private readonly onChunk: (chunk: Buffer) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.onChunk(chunk);
    if (!this.bucket) {
      done(null, chunk);
      return;
    }
    this.bucket.take(chunk.length).then(
      () => done(null, chunk),
      (err: Error) => done(err),
    );
  }
}

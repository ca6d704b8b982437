import { MessageError } from '../errors.js';

/**
 * Fails one message that makes no progress: no byte of it moved for `ms` while it was being
 * opened or written. A bug or a malformed message that leaves a stream waiting forever then
 * ends as one reported message instead of a run that never ends. It lives in the executor,
 * so no adapter needs a timer of its own.
 */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private fire: ((err: MessageError) => void) | undefined;
  private readonly stalled: Promise<never>;
  /** The stall error once the watchdog fired. */
  error: MessageError | undefined;

  /** What the message was waiting for, for the reason in the report. */
  phase = 'opening it at the source';

  constructor(private readonly ms: number) {
    this.stalled = new Promise<never>((_, reject) => {
      this.fire = reject;
    });
    // Nobody may be racing it when it fires.
    this.stalled.catch(() => undefined);
  }

  /** Bytes moved: the wait starts again. */
  touch(): void {
    if (this.error || !this.fire) return;
    clearTimeout(this.timer);
    // Not unref'd: a stream that waits on nothing else must still be woken up by this.
    this.timer = setTimeout(() => this.trip(), this.ms);
  }

  /** `p`, unless the message stalls first; either way the timer keeps running until stop(). */
  async guard<T>(p: Promise<T>): Promise<T> {
    if (!this.timer) this.touch();
    return Promise.race([p, this.stalled]);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.fire = undefined;
  }

  private trip(): void {
    const secs = Math.round(this.ms / 100) / 10;
    this.error = new MessageError(
      'ESTALLED',
      `no byte moved for ${secs} s while ${this.phase} (--timeout ${secs})`,
      // Retried on fresh sessions like a timed-out read, so a stall the connection's own
      // timeout also sees ends the same way whichever timer fires first.
      { hint: 'run again to retry it; a larger --timeout helps on a slow link', retryable: true },
    );
    this.fire?.(this.error);
    this.stop();
  }
}

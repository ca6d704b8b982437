/**
 * Bytes of message data in flight at once. Batching sources and sinks want many messages
 * in flight; this keeps the sum of their sizes bounded, so memory does not grow with the
 * window. A message bigger than the whole budget runs alone.
 */
export class ByteBudget {
  private used = 0;
  private readonly waiting: Array<{ n: number; go: () => void }> = [];

  constructor(readonly limit: number) {}

  async take(n: number): Promise<void> {
    if (this.fits(n) && this.waiting.length === 0) {
      this.used += n;
      return;
    }
    await new Promise<void>((go) => this.waiting.push({ n, go }));
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
    // In order: a big message waiting first is not starved by small ones behind it.
    while (this.waiting.length && this.fits(this.waiting[0]!.n)) {
      const w = this.waiting.shift()!;
      this.used += w.n;
      w.go();
    }
  }

  private fits(n: number): boolean {
    return this.used === 0 || this.used + n <= this.limit;
  }
}

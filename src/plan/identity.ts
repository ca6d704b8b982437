export { identityKey, normalizeMessageId } from '../mail/message-id.js';

/** Counts keys so a multiset match can take one sink copy per source copy. */
export class KeyBag {
  private readonly counts = new Map<string, number>();

  static of(keys: Iterable<string>): KeyBag {
    const bag = new KeyBag();
    for (const k of keys) bag.add(k);
    return bag;
  }

  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Takes one copy if there is one left. */
  take(key: string): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n === 0) return false;
    this.counts.set(key, n - 1);
    return true;
  }

  get size(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
}

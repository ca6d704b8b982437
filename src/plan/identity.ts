import type { MessageMeta } from '../types.js';

// Lives in src/mail/ so formats and protocols need not import the planner.
export { normalizeMessageId } from '../mail/message-id.js';

/**
 * A message's identity for matching source against sink (a multiset match: two identical
 * copies need two). Message-ID plus size where there is a Message-ID; otherwise size plus
 * internal date (both sides record the date we appended with), else the content hash.
 * Sizes are CRLF sizes on every side (RFC822.SIZE, POP3 LIST, archive records).
 */
export function identityKey(m: Pick<MessageMeta, 'messageId' | 'size' | 'internalDate' | 'sha256'>): string {
  if (m.messageId) return `mid:${m.messageId}:${m.size}`;
  if (m.internalDate) return `nomid:${m.size}:${Math.floor(m.internalDate.getTime() / 1000)}`;
  if (m.sha256) return `sha:${m.sha256}`;
  return `nomid:${m.size}:-`;
}

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

import type { MessageMeta } from '../types.js';

/**
 * Message-ID as a comparable token: angle brackets and surrounding space removed. Returned as
 * a string of its own: a slice would keep the whole header text it was cut from alive for as
 * long as the id is kept (about 1.5 KB a message, 9 MB of a 6,000-message run's heap).
 */
export function normalizeMessageId(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const m = /<([^>]*)>/.exec(raw);
  const id = (m ? m[1]! : raw).trim();
  return id ? Buffer.from(id, 'utf8').toString('utf8') : undefined;
}

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

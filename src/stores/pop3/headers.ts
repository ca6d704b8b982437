import { headerFields, messageIdOf, parseDate } from '../../mail/headers.js';

/** What POP3 identify() learns from a message's header block (TOP n 0). */
export interface HeaderIdentity {
  messageId?: string;
  internalDate?: Date;
}

/**
 * POP3 has no INTERNALDATE, so we derive one the way a delivering IMAP server would have set
 * it: the date of the newest Received header (the topmost one, added by the last hop, which is
 * the final delivery), else the Date header, else undefined and the executor uses "now".
 * Lower Received headers are skipped on purpose: they may be forged or carry skewed clocks.
 */
export function parseIdentity(headerBytes: Buffer): HeaderIdentity {
  const headers = headerFields(headerBytes);
  const out: HeaderIdentity = {};
  const messageId = messageIdOf(headerBytes);
  if (messageId) out.messageId = messageId;
  const received = headers.find((h) => h.name === 'received');
  const fromReceived = received
    ? parseDate(received.value.slice(received.value.lastIndexOf(';') + 1))
    : undefined;
  const date = headers.find((h) => h.name === 'date')?.value;
  const when = fromReceived ?? (date ? parseDate(date) : undefined);
  if (when) out.internalDate = when;
  return out;
}

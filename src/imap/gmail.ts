import type { FetchMessageObject, ImapFlow } from 'imapflow';
import type { MessageMeta } from '../types.js';

/** Gmail's IMAP extensions (X-GM-MSGID, X-GM-LABELS, X-GM-THRID). */
export function isGmail(client: Pick<ImapFlow, 'capabilities'>): boolean {
  return client.capabilities.has('X-GM-EXT-1');
}

/**
 * What the inventory FETCH adds where the server names messages across folders: Gmail's
 * X-GM-MSGID and X-GM-LABELS, or RFC 8474's EMAILID (imapflow asks for whichever exists).
 */
export function providerQuery(client: Pick<ImapFlow, 'capabilities'>): { emailId?: true; labels?: true } {
  const gmail = isGmail(client);
  if (gmail) return { emailId: true, labels: true };
  return client.capabilities.has('OBJECTID') ? { emailId: true } : {};
}

export function addProviderFields(meta: MessageMeta, m: FetchMessageObject): void {
  if (m.emailId) meta.providerId = String(m.emailId);
  if (m.labels) meta.labels = [...m.labels];
}

import type { MessageMeta } from '../types.js';
import type { ImapSession } from './connect.js';

/**
 * UIDs of messages with this identity (Message-ID and size; without a Message-ID, size and
 * internal date), for settling an APPEND whose answer was lost with the connection.
 */
export async function findByIdentity(
  session: ImapSession,
  folder: string,
  meta: MessageMeta,
): Promise<string[]> {
  const { client } = session;
  return session.withFolder(folder, true, async () => {
    const query = meta.messageId
      ? { header: { 'message-id': meta.messageId } }
      : { larger: meta.size - 1, smaller: meta.size + 1 };
    const uids = (await session.guard('folder', folder, () => client.search(query, { uid: true }))) || [];
    if (!uids.length) return [];
    const found: string[] = [];
    const wanted = meta.internalDate ? Math.floor(meta.internalDate.getTime() / 1000) : undefined;
    for await (const m of client.fetch(
      uids,
      { uid: true, size: true, internalDate: true, envelope: !meta.messageId },
      { uid: true },
    )) {
      const when = m.internalDate ? Math.floor(new Date(m.internalDate).getTime() / 1000) : undefined;
      // Size and date alone are no identity: a message with a Message-ID is another message.
      if (!meta.messageId && m.envelope?.messageId) continue;
      if (m.size === meta.size && (meta.messageId || wanted === undefined || when === wanted))
        found.push(String(m.uid));
    }
    return found;
  });
}

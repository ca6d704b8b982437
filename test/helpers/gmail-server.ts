import { type HostileServer, startHostileImap } from './hostile-server.js';

/**
 * A scripted Gmail for unit tests: X-GM-EXT-1 in CAPABILITY, `[Gmail]/All_Mail` listed with
 * \All, and inventory FETCHes answered with X-GM-MSGID and X-GM-LABELS. Everything else
 * (login, SELECT, body FETCH) is the scripted server's own (hostile-server.ts). Each folder
 * holds its own copy with its own UID, as at Gmail; `gmId` is the same in every folder.
 */
export interface GmailMessage {
  gmId: string;
  bytes: Buffer;
  labels: string[];
}

export const GMAIL_ALL = '[Gmail]/All_Mail';

export function startGmail(folders: Record<string, GmailMessage[]>): Promise<HostileServer> {
  let selected: GmailMessage[] | undefined;
  const byFolder = new Map(Object.entries(folders));
  return startHostileImap({
    capabilities: ['X-GM-EXT-1', 'SPECIAL-USE'],
    folders: Object.fromEntries([...byFolder].map(([name, ms]) => [name, ms.map((m) => m.bytes)])),
    onCommand: async (c) => {
      if (c.verb === 'SELECT' || c.verb === 'EXAMINE') {
        selected = byFolder.get(/^"?([^"\s]+)"?/.exec(c.args)?.[1] ?? '');
        return false;
      }
      if (c.verb === 'LIST' && !/^"" ""/.test(c.args)) {
        for (const name of byFolder.keys()) {
          const attrs = name === GMAIL_ALL ? '\\HasNoChildren \\All' : '\\HasNoChildren';
          await c.write(`* LIST (${attrs}) "/" "${name}"\r\n`);
        }
        await c.write(`${c.tag} OK LIST done\r\n`);
        return true;
      }
      const fetch = /^FETCH (\S+) \((.*)\)$/i.exec(c.verb === 'UID' ? c.args : '');
      if (!fetch || /BODY(\.PEEK)?\[\]/i.test(fetch[2]!) || !selected) return false;
      await inventory(c, selected);
      return true;
    },
  });
}

async function inventory(
  c: { tag: string; write(d: string): Promise<void> },
  box: GmailMessage[],
): Promise<void> {
  for (const [i, m] of box.entries()) {
    const head = m.bytes.subarray(0, m.bytes.indexOf('\r\n\r\n') + 4).toString('latin1');
    const mid = /^message-id:.*$/im.exec(head)?.[0];
    const field = mid ? `${mid}\r\n\r\n` : '\r\n';
    const labels = m.labels.map((l) => (l.startsWith('\\') ? l : `"${l}"`)).join(' ');
    await c.write(
      `* ${i + 1} FETCH (UID ${i + 1} FLAGS (\\Seen) RFC822.SIZE ${m.bytes.length} ` +
        `INTERNALDATE "01-Jan-2024 10:00:00 +0000" X-GM-MSGID ${m.gmId} X-GM-LABELS (${labels}) ` +
        `BODY[HEADER.FIELDS (MESSAGE-ID)] {${field.length}}\r\n${field})\r\n`,
    );
  }
  await c.write(`${c.tag} OK UID FETCH done\r\n`);
}

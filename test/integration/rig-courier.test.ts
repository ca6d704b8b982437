import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { beforeAll, describe, expect, it } from 'vitest';
import { Pop3Session } from '../helpers/pop3-session.js';
import { type ServerAccount, type ServerInfo, serverAccount, servers } from '../helpers/servers.js';
import { courierDriver } from '../rig/courier.js';
import { imapDialog } from '../rig/courier-probe.js';

const installed = courierDriver.available();
if (!installed) {
  console.warn('rig-courier: Courier is not installed (bash scripts/install-courier.sh, as root): skipped');
}

function courier(): ServerInfo {
  const found = servers().find((s) => s.kind === 'courier');
  if (!found) throw new Error('Courier is installed but the rig did not start it (test/rig/server-list.ts)');
  return found;
}

function client(a: ServerAccount, mode: 'imaps' | 'starttls', ca = true): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1',
    port: mode === 'imaps' ? a.server.ports.imaps : a.server.ports.imap,
    secure: mode === 'imaps',
    doSTARTTLS: mode === 'starttls' ? true : undefined,
    auth: { user: a.user, pass: a.password },
    tls: ca ? { ca: [readFileSync(a.server.caFile)] } : {},
    logger: false,
  });
}

/** CRLF lines, 8-bit bytes, a line starting with "." (dot-stuffed by POP3). */
function message(tag: string, finalNewline = true): Buffer {
  return Buffer.concat([
    Buffer.from(`From: a@example.org\r\nTo: b@example.org\r\nSubject: courier ${tag}\r\n`),
    Buffer.from('Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
    Buffer.from(`Gr\u00fc\u00dfe ${tag}\r\n.leading dot\r\n..two dots\r\nlast line`, 'latin1'),
    Buffer.from(finalNewline ? '\r\n' : ''),
  ]);
}

const CRLF = Buffer.from('\r\n');

describe.skipIf(!installed)('Courier test rig', () => {
  let account: ServerAccount;
  const inbox = message('inbox');
  const archived = message('archive');
  const inboxDate = new Date('2003-04-05T06:07:08Z');
  const archiveDate = new Date('1999-12-31T23:59:00Z');

  beforeAll(async () => {
    account = await serverAccount(courier(), 'courier');
  });

  it('logs in over IMAPS and STARTTLS, verified against the rig CA, and only then', async () => {
    for (const mode of ['imaps', 'starttls'] as const) {
      const c = client(account, mode);
      await c.connect();
      expect(c.authenticated).toBeTruthy();
      expect(c.secureConnection || mode === 'starttls').toBe(true);
      await c.logout();
    }
    // Without the rig's CA the self-signed certificate must be refused.
    await expect(client(account, 'imaps', false).connect()).rejects.toThrow(/certificate/i);
  });

  it('announces the personal namespace the rig reports', async () => {
    const c = client(account, 'imaps');
    await c.connect();
    try {
      expect(c.namespace).toMatchObject(account.server.namespace);
      expect(account.server.namespace).toEqual({ prefix: 'INBOX.', delimiter: '.' });
    } finally {
      await c.logout();
    }
  });

  it('offers the IMAP capabilities the imapfix work relies on knowing', async () => {
    const c = client(account, 'imaps');
    await c.connect();
    const caps = [...c.capabilities.keys()].map((cap) => cap.toUpperCase());
    await c.logout();
    expect(caps).toEqual(expect.arrayContaining(['IMAP4REV1', 'UIDPLUS', 'NAMESPACE', 'IDLE']));
    for (const missing of ['MULTIAPPEND', 'CONDSTORE', 'QRESYNC', 'SPECIAL-USE', 'CREATE-SPECIAL-USE'])
      expect(caps).not.toContain(missing);
    expect(caps.some((cap) => cap.startsWith('APPENDLIMIT'))).toBe(false);
  });

  it('keeps APPENDed bytes, flags and internal dates in INBOX and INBOX.Archive', async () => {
    const c = client(account, 'imaps');
    await c.connect();
    try {
      await c.mailboxCreate('INBOX.Archive');
      const a = await c.append('INBOX', inbox, ['\\Seen', '\\Flagged'], inboxDate);
      const b = await c.append('INBOX.Archive', archived, ['\\Answered', '$Label1'], archiveDate);
      expect(a ? a.uid : 0).toBeGreaterThan(0);
      expect(b ? b.uid : 0).toBeGreaterThan(0);
      const boxes = (await c.list()).map((m) => m.path);
      expect(boxes).toEqual(expect.arrayContaining(['INBOX', 'INBOX.Archive']));
      for (const [box, raw, flags, date] of [
        ['INBOX', inbox, ['\\Seen', '\\Flagged'], inboxDate],
        ['INBOX.Archive', archived, ['\\Answered', '$Label1'], archiveDate],
      ] as const) {
        const lock = await c.getMailboxLock(box);
        try {
          const got = await c.fetchOne('*', { source: true, flags: true, internalDate: true });
          if (!got) throw new Error(`nothing in ${box}`);
          expect(got.source?.equals(raw)).toBe(true);
          expect([...(got.flags ?? [])].sort()).toEqual([...flags].sort());
          expect(new Date(got.internalDate ?? 0).getTime()).toBe(date.getTime());
        } finally {
          lock.release();
        }
      }
    } finally {
      await c.logout();
    }
  });

  it('adds a CRLF to a message APPENDed without a final newline', async () => {
    const raw = message('unterminated', false);
    const c = client(account, 'imaps');
    await c.connect();
    try {
      await c.mailboxCreate('INBOX.Unterminated');
      await c.append('INBOX.Unterminated', raw);
      const lock = await c.getMailboxLock('INBOX.Unterminated');
      try {
        const got = await c.fetchOne('*', { source: true, size: true });
        if (!got) throw new Error('nothing in INBOX.Unterminated');
        // Courier's behaviour, not the rig's: a byte-exact check must allow for it.
        expect(got.source?.equals(Buffer.concat([raw, CRLF]))).toBe(true);
        expect(got.size).toBe(raw.length + 2);
      } finally {
        lock.release();
      }
    } finally {
      await c.logout();
    }
  });

  it('sends UIDNEXT in STATUS but not in SELECT', async () => {
    const [, select, status] = await imapDialog(account.server.ports.imap, [
      `LOGIN ${account.user} ${account.password}`,
      'SELECT INBOX',
      'STATUS INBOX (UIDNEXT MESSAGES)',
      'LOGOUT',
    ]);
    expect(select?.at(-1)).toMatch(/^t1 OK/);
    expect(select?.some((l) => l.includes('UIDVALIDITY'))).toBe(true);
    expect(select?.some((l) => l.includes('UIDNEXT'))).toBe(false);
    expect(status?.find((l) => l.startsWith('* STATUS'))).toMatch(/UIDNEXT \d+/);
  });

  it('serves the INBOX message byte-exact over POP3S and POP3 with STLS', async () => {
    for (const [port, mode] of [
      [account.server.ports.pop3s, 'implicit'],
      [account.server.ports.pop3, 'stls'],
    ] as const) {
      const s = await Pop3Session.open(port, mode, account.server.caFile);
      try {
        expect(s.encrypted).toBe(true);
        const capa = await s.command('CAPA', true);
        expect(capa.body?.toString('latin1')).toMatch(/^UIDL\r$/m);
        expect((await s.command(`USER ${account.user}`)).status).toMatch(/^\+OK/);
        expect((await s.command(`PASS ${account.password}`)).status).toMatch(/^\+OK/);
        expect((await s.command('STAT')).status).toMatch(/^\+OK 1 /);
        const retr = await s.command('RETR 1', true);
        expect(retr.body?.equals(inbox)).toBe(true);
      } finally {
        await s.quit();
      }
    }
  });

  it('creates accounts concurrently, each with its own password', async () => {
    // Each createAccount recompiles the whole userdb: none may drop another's entry.
    const made = await Promise.all([1, 2, 3, 4, 5].map(() => serverAccount(courier(), 'conc')));
    for (const a of made) {
      const [login] = await imapDialog(a.server.ports.imap, [`LOGIN ${a.user} ${a.password}`, 'LOGOUT']);
      expect(login?.at(-1)).toMatch(/^t0 OK/);
    }
    const [other] = await imapDialog(account.server.ports.imap, [
      `LOGIN ${made[0]!.user} ${made[1]!.password}`,
      'LOGOUT',
    ]);
    expect(other?.at(-1)).toMatch(/^t0 NO/);
  });

  it('refuses a wrong password over IMAP and POP3', async () => {
    const wrong = { ...account, password: `${account.password}x` };
    await expect(client(wrong, 'imaps').connect()).rejects.toThrow();
    const s = await Pop3Session.open(account.server.ports.pop3s, 'implicit', account.server.caFile);
    try {
      expect((await s.command(`USER ${wrong.user}`)).status).toMatch(/^\+OK/);
      expect((await s.command(`PASS ${wrong.password}`)).status).toMatch(/^-ERR/);
    } finally {
      await s.quit();
    }
  });
});

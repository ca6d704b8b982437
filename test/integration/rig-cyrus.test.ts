import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ImapFlow } from 'imapflow';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ServerAccount, type ServerInfo, serverAccount, servers } from '../helpers/servers.js';
import { cyrusDriver } from '../rig/cyrus.js';

const installed = cyrusDriver.available();
if (!installed) console.warn('rig-cyrus: Cyrus is not installed (bash scripts/install-cyrus.sh), skipped');

function cyrus(): ServerInfo {
  const found = servers().find((s) => s.kind === 'cyrus');
  if (!found) throw new Error('Cyrus is installed but the rig did not start it (test/rig/global-setup.ts)');
  return found;
}

function imapClient(a: ServerAccount, mode: 'imaps' | 'starttls', pass = a.password): ImapFlow {
  return new ImapFlow({
    host: a.server.host,
    port: mode === 'imaps' ? a.server.ports.imaps : a.server.ports.imap,
    secure: mode === 'imaps',
    doSTARTTLS: mode === 'starttls' ? true : undefined,
    auth: { user: a.user, pass },
    tls: { ca: [readFileSync(a.server.caFile)] },
    logger: false,
  });
}

/** Write POP3 commands at once (Cyrus announces PIPELINING) and collect the replies until close. */
function pop3Session(server: ServerInfo, lines: string[], secure: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = secure
      ? tlsConnect({ host: server.host, port: server.ports.pop3s, ca: [readFileSync(server.caFile)] })
      : netConnect({ host: server.host, port: server.ports.pop3 });
    const chunks: Buffer[] = [];
    sock.once(secure ? 'secureConnect' : 'connect', () => sock.write(lines.map((l) => `${l}\r\n`).join('')));
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => resolve(Buffer.concat(chunks)));
    sock.on('error', reject);
  });
}

/** The message of a RETR reply: after its +OK line, up to the terminating dot, dot-unstuffed. */
function retrBody(reply: Buffer, afterLine: RegExp): Buffer {
  const text = reply.toString('latin1');
  const at = text.search(afterLine);
  expect(at, 'reply before RETR').toBeGreaterThanOrEqual(0);
  const okLine = text.indexOf('+OK', text.indexOf('\r\n', at) + 2);
  const start = text.indexOf('\r\n', okLine) + 2;
  const end = text.indexOf('\r\n.\r\n', start);
  expect(end, 'RETR terminator').toBeGreaterThan(start);
  const body = text.slice(start, end + 2).replace(/^\.\./gm, '.');
  return Buffer.from(body, 'latin1');
}

/** CRLF only (Cyrus refuses bare LF), with raw latin-1 bytes in a header and in the body. */
function message(tag: string): Buffer {
  const text =
    `From: Rig <rig@example.org>\r\nTo: ${tag}@example.org\r\nSubject: cyrus rig ${tag}\r\n` +
    `Message-ID: <${tag}@rig.example.org>\r\nDate: Tue, 01 Oct 2002 10:00:00 +0200\r\n` +
    'X-Greeting: Gr\u00fc\u00dfe aus K\u00f6ln\r\n' +
    'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n' +
    `Content-Transfer-Encoding: 8bit\r\n\r\nCaf\u00e9, ${tag}.\r\n` +
    '.a line that starts with a dot\r\n\r\n-- \r\nend\r\n';
  return Buffer.from(text, 'latin1');
}

const flags = ['$Label1', '\\Flagged', '\\Seen'];
const internalDate = new Date('2002-10-01T08:00:00Z');

describe.skipIf(!installed)('Cyrus test rig', () => {
  let account: ServerAccount;
  beforeAll(async () => {
    account = await serverAccount(cyrus(), 'cy');
  });

  for (const mode of ['imaps', 'starttls'] as const) {
    it(`logs in over ${mode} with the CA verified and announces the namespace`, async () => {
      const client = imapClient(account, mode);
      await client.connect();
      try {
        expect(client.secureConnection).toBe(true);
        expect(client.authenticated).toBeTruthy();
        expect(client.namespace).toMatchObject(account.server.namespace);
        expect(account.server.namespace).toEqual({ prefix: 'INBOX.', delimiter: '.' });
        const caps = [...client.capabilities.keys()];
        for (const cap of ['MULTIAPPEND', 'UIDPLUS', 'CONDSTORE', 'QRESYNC', 'NAMESPACE', 'IDLE'])
          expect(caps, cap).toContain(cap);
        for (const cap of ['SPECIAL-USE', 'CREATE-SPECIAL-USE', 'MOVE', 'LITERAL+'])
          expect(caps, cap).toContain(cap);
        expect(client.capabilities.get('APPENDLIMIT')).toBe(128 * 1024 * 1024);
      } finally {
        await client.logout();
      }
    });
  }

  it('keeps appended bytes (8-bit headers too), flags and internal dates in INBOX and INBOX.Archive', async () => {
    const client = imapClient(account, 'imaps');
    await client.connect();
    try {
      const created = await client.mailboxCreate('INBOX.Archive');
      expect(created.path).toBe('INBOX.Archive');
      const list = await client.list();
      expect(list.find((f) => f.path === 'INBOX.Archive')?.delimiter).toBe('.');
      for (const folder of ['INBOX', 'INBOX.Archive']) {
        const raw = message(folder === 'INBOX' ? 'inbox' : 'archive');
        const appended = await client.append(folder, raw, flags, internalDate);
        if (!appended) throw new Error(`APPEND to ${folder} failed`);
        expect(appended.uid, `APPENDUID in ${folder}`).toBeGreaterThan(0);
        const lock = await client.getMailboxLock(folder);
        try {
          const got = await client.fetchOne(
            String(appended.uid),
            { source: true, flags: true, internalDate: true },
            { uid: true },
          );
          if (!got) throw new Error(`UID ${appended.uid} not found in ${folder}`);
          expect(got.source?.equals(raw), `bytes in ${folder}`).toBe(true);
          const kept = [...(got.flags ?? [])].filter((f) => f !== '\\Recent').sort();
          expect(kept).toEqual([...flags].sort());
          expect(new Date(got.internalDate ?? 0).getTime()).toBe(internalDate.getTime());
        } finally {
          lock.release();
        }
      }
    } finally {
      await client.logout();
    }
  });

  it('serves the INBOX message over POP3S with the same bytes', async () => {
    const reply = await pop3Session(
      account.server,
      ['CAPA', `USER ${account.user}`, `PASS ${account.password}`, 'STAT', 'RETR 1', 'UIDL 1', 'QUIT'],
      true,
    );
    const text = reply.toString('latin1');
    expect(text.startsWith('+OK')).toBe(true);
    expect(text).toMatch(/\r\nUIDL\r\n/);
    expect(text).toMatch(/\r\nPIPELINING\r\n/);
    expect(text).toMatch(/\+OK 1 \d+\r\n/);
    expect(text).toMatch(/\r\n\+OK 1 \S+\r\n\+OK\r\n$/); // UIDL 1, QUIT
    expect(retrBody(reply, /\+OK 1 \d+\r\n/).equals(message('inbox'))).toBe(true);
  });

  it('offers STLS on plain POP3', async () => {
    const reply = (await pop3Session(account.server, ['CAPA', 'QUIT'], false)).toString('latin1');
    expect(reply).toMatch(/\r\nSTLS\r\n/);
  });

  it('refuses a wrong password over IMAPS and POP3S', async () => {
    const client = imapClient(account, 'imaps', `${account.password}x`);
    await expect(client.connect()).rejects.toMatchObject({ authenticationFailed: true });
    const reply = await pop3Session(
      account.server,
      [`USER ${account.user}`, `PASS ${account.password}x`, 'QUIT'],
      true,
    );
    expect(reply.toString('latin1')).toMatch(/\r\n-ERR \[AUTH\]/);
  });

  it('creates accounts concurrently, each with its own password', async () => {
    const made = await Promise.all([1, 2, 3, 4].map(() => serverAccount(cyrus(), 'cyc')));
    for (const a of made) {
      const reply = await pop3Session(
        a.server,
        [`USER ${a.user}`, `PASS ${a.password}`, 'STAT', 'QUIT'],
        true,
      );
      expect(reply.toString('latin1')).toMatch(/\r\n\+OK 0 0\r\n/);
    }
  });
});

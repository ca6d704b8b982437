import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointContext } from '../../src/context.js';
import { parseEndpoint, type ServerEndpoint } from '../../src/endpoint.js';
import { ConnectionError } from '../../src/errors.js';
import { crlfSha256Stream } from '../../src/mail/hash.js';
import { openImapSource } from '../../src/stores/imap/source.js';
import type { FolderInfo, Source } from '../../src/types.js';
import { silentLogger } from '../../src/util/log.js';
import { freshAccount, imapUrl, rig } from '../helpers/rig.js';
import { type SeededMessage, seedAccount } from '../rig/seed.js';

const MB = 1024 * 1024;
const BIG = 20 * MB;

function context(
  endpoint: ServerEndpoint,
  password: string,
  opts: { ca?: boolean; onBytes?: (n: number) => void } = {},
): EndpointContext {
  return {
    endpoint,
    log: silentLogger,
    largeMessageBytes: MB,
    onBytes: opts.onBytes,
    server: {
      endpoint,
      auth: async () => ({ method: 'password', user: endpoint.user, secret: password }),
      tls: { ca: opts.ca === false ? undefined : [readFileSync(rig().caFile, 'utf8')], insecure: false },
      allowPlaintext: false,
      timeoutMs: 30_000,
    },
  };
}

const endpointOf = (url: string) => parseEndpoint(url) as ServerEndpoint;
const sortFlags = (flags: string[]) => [...flags].sort();

let account: { user: string; password: string };
let seeded: SeededMessage[];
let source: Source;
let folders: FolderInfo[];
const bytesSeen: number[] = [];

function seededIn(folder: string): SeededMessage[] {
  return seeded.filter((m) => m.folder === folder);
}

function folder(name: string): FolderInfo {
  const f = folders.find((x) => x.name === name);
  if (!f) throw new Error(`no folder ${name} in ${folders.map((x) => x.name).join(', ')}`);
  return f;
}

beforeAll(async () => {
  account = await freshAccount('imapsrc');
  seeded = await seedAccount(rig(), account.user, {
    folders: [
      { name: 'INBOX', count: 40 },
      { name: 'Sent', count: 15, specialUse: '\\Sent' },
      { name: 'Archive/2002', count: 10 },
      { name: 'Entwürfe', count: 5 },
    ],
    edgeCases: 'INBOX',
    big: [{ folder: 'INBOX', bytes: BIG }],
    flags: true,
  });
  const ctx = context(endpointOf(imapUrl(account.user)), account.password, {
    onBytes: (n) => bytesSeen.push(n),
  });
  source = await openImapSource(ctx);
  folders = await source.listFolders();
}, 300_000);

afterAll(async () => {
  await source?.close();
});

describe('IMAP source against Dovecot', () => {
  it('lists folders with decoded names, delimiter, special-use and selectability', () => {
    const names = folders.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['INBOX', 'Sent', 'Archive', 'Archive/2002', 'Entwürfe']));
    expect(folder('Sent')).toMatchObject({
      specialUse: '\\Sent',
      subscribed: true,
      selectable: true,
      delimiter: '/',
    });
    expect(folder('Archive').specialUse).toBe('\\Archive');
    expect(folder('INBOX').specialUse).toBeUndefined();
    expect(folder('Entwürfe').selectable).toBe(true);
  });

  it('inventories every folder exactly as seeded: UIDs, flags with keywords, dates, Message-IDs', async () => {
    for (const name of ['INBOX', 'Sent', 'Archive/2002', 'Entwürfe']) {
      const inv = await source.inventory(folder(name));
      const want = seededIn(name);
      expect(inv.messages.length, name).toBe(want.length);
      expect(
        inv.messages.map((m) => sortFlags(m.flags)),
        name,
      ).toEqual(want.map((m) => sortFlags(m.flags)));
      expect(
        inv.messages.map((m) => m.internalDate?.getTime()),
        name,
      ).toEqual(want.map((m) => m.internalDate.getTime()));
      expect(
        inv.messages.map((m) => m.messageId),
        name,
      ).toEqual(want.map((m) => m.messageId));
      expect(inv.messages.map((m) => Number(m.id))).toEqual(want.map((_, i) => i + 1));
      expect(inv.uidValidity).toMatch(/^\d+$/);
      expect(inv.highestModseq).toMatch(/^\d+$/);
      expect(inv.uidNext).toBe(want.length + 1);
    }
    const inbox = await source.inventory(folder('INBOX'));
    expect(inbox.messages.some((m) => m.flags.includes('$Label1'))).toBe(true);
    expect(inbox.messages.find((m) => m.messageId === undefined)).toBeDefined();
    const big = inbox.messages.at(-1)!;
    expect(big.size).toBeGreaterThan(BIG - 1000);
  });

  it('inventories only UIDs from sinceUid on, and nothing past the last UID', async () => {
    const all = await source.inventory(folder('Sent'));
    const tail = await source.inventory(folder('Sent'), { sinceUid: 11 });
    expect(tail.messages.map((m) => m.id)).toEqual(all.messages.slice(10).map((m) => m.id));
    const none = await source.inventory(folder('Sent'), { sinceUid: all.uidNext });
    expect(none.messages).toEqual([]);
  });

  it('folderStatus agrees with the inventory', async () => {
    const inv = await source.inventory(folder('Archive/2002'));
    const st = await source.folderStatus!(folder('Archive/2002'));
    expect(st).toEqual({
      messages: inv.messages.length,
      uidNext: inv.uidNext,
      uidValidity: inv.uidValidity,
      highestModseq: inv.highestModseq,
    });
  });

  it('opens every INBOX message with bytes hash-equal to the manifest, 20 MB through download()', async () => {
    const inv = await source.inventory(folder('INBOX'));
    const want = seededIn('INBOX');
    for (const [i, meta] of inv.messages.entries()) {
      bytesSeen.length = 0;
      const { sha256, bytes } = await crlfSha256Stream(await source.open(inv.folder, meta));
      expect(sha256, want[i]!.name ?? meta.id).toBe(want[i]!.sha256);
      expect(bytesSeen.reduce((a, b) => a + b, 0)).toBe(meta.size);
      if (meta.size > MB) {
        // The large path streams partial fetches: many chunks, never the whole message at once.
        expect(bytes).toBeGreaterThan(BIG - 1000);
        expect(bytesSeen.length).toBeGreaterThanOrEqual(10);
        expect(Math.max(...bytesSeen)).toBeLessThanOrEqual(MB);
      } else {
        expect(bytesSeen.length).toBe(1);
      }
    }
    for (const name of ['latin1-8bit', 'utf8-8bit', 'long-line', 'no-trailing-newline', `big-${BIG}`]) {
      expect(
        want.some((m) => m.name === name),
        name,
      ).toBe(true);
    }
  });

  it('reading messages does not set \\Seen', async () => {
    const before = await source.inventory(folder('INBOX'));
    const unseen = before.messages.filter((m) => !m.flags.includes('\\Seen'));
    expect(unseen.length).toBeGreaterThan(0);
    for (const m of unseen) await crlfSha256Stream(await source.open(before.folder, m));
    const after = await source.inventory(folder('INBOX'));
    expect(after.messages.map((m) => sortFlags(m.flags))).toEqual(
      before.messages.map((m) => sortFlags(m.flags)),
    );
  });

  it('stat() gives counts and byte totals per selectable folder', async () => {
    const stats = await source.stat!();
    const inbox = await source.inventory(folder('INBOX'));
    const row = stats.find((s) => s.folder.name === 'INBOX');
    expect(row?.messages).toBe(inbox.messages.length);
    expect(row?.bytes).toBe(inbox.messages.reduce((a, m) => a + m.size, 0));
    expect(stats.find((s) => s.folder.name === 'Entwürfe')?.messages).toBe(5);
  });

  it('limits listFolders to the URL folder and its children', async () => {
    const scoped = await openImapSource(
      context(endpointOf(`${imapUrl(account.user)}/Archive`), account.password),
    );
    try {
      expect((await scoped.listFolders()).map((f) => f.name).sort()).toEqual(['Archive', 'Archive/2002']);
    } finally {
      await scoped.close();
    }
  });
});

describe('IMAP source delete', () => {
  it('expunges exactly the given UIDs, not other messages marked \\Deleted', async () => {
    const acct = await freshAccount('imapdel');
    await seedAccount(rig(), acct.user, { folders: [{ name: 'INBOX', count: 6 }] });
    const src = await openImapSource(context(endpointOf(imapUrl(acct.user)), acct.password));
    try {
      const inbox = (await src.listFolders()).find((f) => f.name === 'INBOX')!;
      const inv = await src.inventory(inbox);
      await markDeleted(acct, 3);
      await src.delete!(inbox, [inv.messages[0]!, inv.messages[4]!]);
      const left = await src.inventory(inbox);
      expect(left.messages.map((m) => m.id)).toEqual(['2', '3', '4', '6']);
      expect(left.messages.find((m) => m.id === '3')?.flags).toContain('\\Deleted');
      const gone = await src.open(inbox, inv.messages[0]!).catch((e: unknown) => e);
      expect(gone).toMatchObject({ code: 'EGONE', exitCode: 1 });
    } finally {
      await src.close();
    }
  });
});

/** Another client marks one message \Deleted without expunging it. */
async function markDeleted(acct: { user: string; password: string }, uid: number): Promise<void> {
  const client = new ImapFlow({
    host: rig().host,
    port: rig().ports.imaps,
    secure: true,
    auth: { user: acct.user, pass: acct.password },
    tls: { ca: [readFileSync(rig().caFile)] },
    logger: false,
  });
  await client.connect();
  const lock = await client.getMailboxLock('INBOX');
  try {
    await client.messageFlagsAdd(String(uid), ['\\Deleted'], { uid: true });
  } finally {
    lock.release();
    await client.logout();
  }
}

describe('IMAP source connections', () => {
  async function failure(ctx: EndpointContext): Promise<ConnectionError> {
    const err = await openImapSource(ctx).then(
      async (s) => {
        await s.close();
        throw new Error('connected');
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectionError);
    return err as ConnectionError;
  }

  it('a wrong password is EAUTH, exit 3, and the message holds no password', async () => {
    const wrong = 'not-the-password-5f3a';
    const err = await failure(context(endpointOf(imapUrl(account.user)), wrong));
    expect(err.code).toBe('EAUTH');
    expect(err.exitCode).toBe(3);
    expect(err.retryable).toBe(false);
    expect(`${err.message} ${err.hint}`).not.toContain(wrong);
    expect(`${err.message} ${err.hint}`).not.toContain(account.password);
  });

  it('an untrusted certificate is ECERT with the --ca-file hint', async () => {
    const err = await failure(context(endpointOf(imapUrl(account.user)), account.password, { ca: false }));
    expect(err.code).toBe('ECERT');
    expect(err.hint).toContain('--ca-file');
  });

  it('imap:// upgrades with STARTTLS and checks the certificate there too', async () => {
    const plainUrl = imapUrl(account.user, { tls: 'imap' });
    const ok = await openImapSource(context(endpointOf(plainUrl), account.password));
    expect((await ok.listFolders()).length).toBeGreaterThan(0);
    await ok.close();
    await ok.close();
    const err = await failure(context(endpointOf(plainUrl), account.password, { ca: false }));
    expect(err.code).toBe('ECERT');
  });

  it('refuses a non-loopback server without STARTTLS before sending the password (EPLAINTEXT)', async () => {
    const received: string[] = [];
    const server: Server = createServer((sock) => {
      sock.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake server without TLS\r\n');
      sock.on('data', (d) => {
        received.push(d.toString('latin1'));
        for (const line of d.toString('latin1').split('\r\n').filter(Boolean)) {
          const tag = line.split(' ')[0];
          if (/ CAPABILITY/i.test(line))
            sock.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n${tag} OK done\r\n`);
          else sock.write(`${tag} OK whatever\r\n`);
        }
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      // The IPv4-mapped form reaches 127.0.0.1 but is not spelled as loopback, like a remote host.
      const endpoint: ServerEndpoint = {
        ...endpointOf(`imap://someone@127.0.0.1:${port}`),
        host: '::ffff:127.0.0.1',
      };
      const err = await failure(context(endpoint, 'secret-never-sent'));
      expect(err.code).toBe('EPLAINTEXT');
      expect(err.hint).toContain('--allow-plaintext');
      expect(received.join('')).not.toMatch(/LOGIN|AUTHENTICATE|secret-never-sent/i);
    } finally {
      server.close();
    }
  });
});

import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crlfSha256 } from '../../src/mail/hash.js';
import { freshAccount, imapUrl, pop3Url, rig } from '../helpers/rig.js';
import { mailboxStatus, setQuota } from '../rig/accounts.js';
import {
  bigMessage,
  corpusMessages,
  edgeCaseMessages,
  type SeededMessage,
  seedAccount,
} from '../rig/seed.js';

function imapClient(user: string, pass: string): ImapFlow {
  const r = rig();
  return new ImapFlow({
    host: r.host,
    port: r.ports.imaps,
    secure: true,
    auth: { user, pass },
    tls: { ca: [readFileSync(r.caFile)] },
    logger: false,
  });
}

/** Send POP3 lines over TLS and collect everything the server says until it closes. */
function pop3sSession(lines: string[]): Promise<string> {
  const r = rig();
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({
      host: r.host,
      port: r.ports.pop3s,
      ca: [readFileSync(r.caFile)],
      servername: 'localhost',
    });
    let text = '';
    sock.on('secureConnect', () => sock.write(lines.map((l) => `${l}\r\n`).join('')));
    sock.on('data', (d) => {
      text += d.toString('latin1');
    });
    sock.on('end', () => resolve(text));
    sock.on('error', reject);
  });
}

describe('generated messages', () => {
  it('are deterministic and shaped as promised', () => {
    expect(bigMessage(300_000, 'a').equals(bigMessage(300_000, 'a'))).toBe(true);
    expect(bigMessage(300_000, 'a').equals(bigMessage(300_000, 'b'))).toBe(false);
    expect(Math.abs(bigMessage(300_000).length - 300_000)).toBeLessThan(1000);
    for (const m of corpusMessages(50, 100)) expect(m.subarray(0, 5).toString()).not.toBe('From ');
    const edge = new Map(edgeCaseMessages().map((e) => [e.name, e.raw]));
    expect(edge.get('duplicate-1')?.equals(edge.get('duplicate-2')!)).toBe(true);
    expect(edge.get('latin1-8bit')?.includes(Buffer.from([0xfc]))).toBe(true);
    expect(edge.get('no-trailing-newline')?.at(-1)).not.toBe(0x0a);
  });
});

describe('Dovecot test rig', () => {
  let account: { user: string; password: string };
  let seeded: SeededMessage[];

  beforeAll(async () => {
    account = await freshAccount('rigtest');
    seeded = await seedAccount(rig(), account.user, {
      folders: [
        { name: 'INBOX', count: 30 },
        { name: 'Sent', count: 10, specialUse: '\\Sent' },
        { name: 'Archive/2002', count: 5 },
        { name: 'Entwürfe', count: 4 },
      ],
      edgeCases: 'INBOX',
      flags: true,
    });
  });

  it('holds per folder what the manifest says', async () => {
    const status = await mailboxStatus(rig(), account.user);
    const counted = new Map(status.map((s) => [s.folder, s.messages]));
    for (const folder of ['INBOX', 'Sent', 'Archive/2002', 'Entwürfe']) {
      expect(counted.get(folder), folder).toBe(seeded.filter((m) => m.folder === folder).length);
    }
    expect(counted.get('INBOX')).toBe(30 + edgeCaseMessages().length);
  });

  describe('over IMAP', () => {
    let client: ImapFlow;
    beforeAll(async () => {
      client = imapClient(account.user, account.password);
      await client.connect();
    });
    afterAll(async () => {
      await client.logout();
    });

    it('serves the seeded bytes, flags and dates in manifest order', async () => {
      const lock = await client.getMailboxLock('INBOX');
      const fetched: Array<{ sha: string; flags: string[]; date: Date }> = [];
      try {
        for await (const msg of client.fetch('1:*', {
          uid: true,
          flags: true,
          internalDate: true,
          source: true,
        })) {
          const flags = [...(msg.flags ?? [])].filter((f) => f !== '\\Recent').sort();
          fetched.push({ sha: crlfSha256(msg.source!), flags, date: new Date(msg.internalDate!) });
        }
      } finally {
        lock.release();
      }
      const inbox = seeded.filter((m) => m.folder === 'INBOX');
      expect(fetched.map((f) => f.sha)).toEqual(inbox.map((m) => m.sha256));
      expect(fetched.map((f) => f.flags)).toEqual(inbox.map((m) => [...m.flags].sort()));
      expect(fetched.map((f) => f.date.getTime())).toEqual(inbox.map((m) => m.internalDate.getTime()));
      for (const name of ['latin1-8bit', 'utf8-8bit', 'long-line', 'no-trailing-newline']) {
        const m = inbox.find((s) => s.name === name);
        expect(m, name).toBeDefined();
        expect(
          fetched.some((f) => f.sha === m!.sha256),
          name,
        ).toBe(true);
      }
    });

    it('lists special-use, nested and non-ASCII folders', async () => {
      const list = await client.list();
      const byPath = new Map(list.map((f) => [f.path, f]));
      expect(byPath.get('Sent')?.specialUse).toBe('\\Sent');
      expect(byPath.get('Entwürfe')).toBeDefined();
      expect(byPath.get('Archive/2002')?.delimiter).toBe('/');
    });
  });

  it('answers POP3S with the INBOX count', async () => {
    const text = await pop3sSession([
      `USER ${account.user}`,
      `PASS ${account.password}`,
      'STAT',
      'UIDL 1',
      'QUIT',
    ]);
    expect(text.startsWith('+OK')).toBe(true);
    const inboxCount = seeded.filter((m) => m.folder === 'INBOX').length;
    expect(text).toMatch(new RegExp(`\\+OK ${inboxCount} \\d+`));
    expect(text).toMatch(/\+OK 1 [0-9a-f]{16}\r\n/i);
  });

  it('takes new accounts and quota changes while running', async () => {
    const fresh = await freshAccount('rigquota', { quota: '*:storage=1M' });
    const quotaLimit = async () => {
      const c = imapClient(fresh.user, fresh.password);
      await c.connect();
      const q = await c.getQuota('INBOX');
      await c.logout();
      return q ? q.storage?.limit : undefined;
    };
    expect(await quotaLimit()).toBe(1024 * 1024);
    await setQuota(rig(), fresh.user, '*:storage=2M');
    expect(await quotaLimit()).toBe(2 * 1024 * 1024);
    expect(imapUrl(fresh.user)).toBe(`imaps://${fresh.user}@127.0.0.1:${rig().ports.imaps}`);
    expect(pop3Url('a@b.c', { tls: 'pop3' })).toBe(`pop3://a%40b.c@127.0.0.1:${rig().ports.pop3}`);
  });
});

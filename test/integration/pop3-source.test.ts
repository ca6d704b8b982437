import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseEndpoint, type ServerEndpoint } from '../../src/endpoint.js';
import { crlfSha256Stream } from '../../src/mail/hash.js';
import { Pop3Client } from '../../src/pop3/client.js';
import { openPop3Source } from '../../src/stores/pop3/source.js';
import { silentLogger } from '../../src/util/log.js';
import type { ServerOptions } from '../../src/util/net.js';
import { countBy } from '../helpers/mailbox.js';
import { freshAccount, pop3Url, rig } from '../helpers/rig.js';
import { type SeededMessage, seedAccount } from '../rig/seed.js';

let account: { user: string; password: string };
let seeded: SeededMessage[];

beforeAll(async () => {
  account = await freshAccount('pop3-src');
  seeded = await seedAccount(rig(), account.user, {
    folders: [{ name: 'INBOX', count: 300 }],
    edgeCases: 'INBOX',
    big: [{ folder: 'INBOX', bytes: 6 * 1024 * 1024 }],
  });
}, 300_000);

function serverOptions(tls: 'pop3' | 'pop3s'): ServerOptions {
  const endpoint = parseEndpoint(pop3Url(account.user, { tls })) as ServerEndpoint;
  return {
    endpoint,
    auth: async () => ({ method: 'password', user: account.user, secret: account.password }),
    tls: { ca: [readFileSync(rig().caFile, 'utf8')], insecure: false },
    allowPlaintext: false,
    timeoutMs: 30_000,
  };
}

describe.each(['pop3', 'pop3s'] as const)('POP3 source over %s against the real Dovecot', (tls) => {
  it('logs in over TLS', async () => {
    const client = await Pop3Client.connect({ server: serverOptions(tls) });
    expect(client.tlsActive).toBe(true);
    expect(client.pipelining).toBe(true);
    expect((await client.stat()).count).toBe(seeded.length);
    await client.close();
  });

  it('inventories, identifies and RETRs every message byte-exactly', async () => {
    const server = serverOptions(tls);
    let bytesRead = 0;
    const source = await openPop3Source({
      endpoint: server.endpoint,
      server,
      log: silentLogger,
      largeMessageBytes: 1 << 20,
      onBytes: (n) => {
        bytesRead += n;
      },
    });
    try {
      const [inbox] = await source.listFolders();
      const inv = await source.inventory(inbox!);
      expect(inv.messages).toHaveLength(seeded.length);
      expect(new Set(inv.messages.map((m) => m.id)).size).toBe(seeded.length);
      await source.identify!(inbox!, inv.messages);
      expect(countBy(inv.messages, (m) => m.messageId ?? '-')).toEqual(
        countBy(seeded, (m) => m.messageId ?? '-'),
      );
      const hashes: string[] = [];
      for (const m of inv.messages) {
        const got = await crlfSha256Stream(await source.open(inbox!, m));
        expect(got.bytes, `size of ${m.id} (${m.messageId})`).toBe(m.size);
        hashes.push(got.sha256);
      }
      expect(countBy(hashes, (h) => h)).toEqual(countBy(seeded, (s) => s.sha256));
      expect(bytesRead).toBeGreaterThan(seeded.reduce((n, s) => n + s.raw.length, 0));
    } finally {
      await source.close();
    }
  });
});

describe('POP3 source delete and login failure against the real Dovecot', () => {
  it('deletes exactly the messages passed, at QUIT', async () => {
    const other = await freshAccount('pop3-del');
    const mine = await seedAccount(rig(), other.user, { folders: [{ name: 'INBOX', count: 12 }] });
    const server = serverOptions('pop3s');
    server.auth = async () => ({ method: 'password', user: other.user, secret: other.password });
    const source = await openPop3Source({
      endpoint: server.endpoint,
      server,
      log: silentLogger,
      largeMessageBytes: 1,
    });
    const [inbox] = await source.listFolders();
    const before = (await source.inventory(inbox!)).messages;
    expect(before).toHaveLength(mine.length);
    const doomed = [before[0]!, before[5]!, before[11]!];
    await source.delete!(inbox!, doomed);
    const after = (await source.inventory(inbox!)).messages.map((m) => m.id);
    expect(after).toEqual(before.filter((m) => !doomed.includes(m)).map((m) => m.id));
    await source.close();
  });

  it('reports a wrong password as EAUTH without echoing it', async () => {
    const server = serverOptions('pop3');
    server.auth = async () => ({ method: 'password', user: account.user, secret: 'not-the-password' });
    const err = await openPop3Source({
      endpoint: server.endpoint,
      server,
      log: silentLogger,
      largeMessageBytes: 1,
    }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.code).toBe('EAUTH');
    expect(err?.message).not.toContain('not-the-password');
  });
});

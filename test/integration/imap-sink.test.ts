import { readFileSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointContext } from '../../src/context.js';
import { parseEndpoint, type ServerEndpoint } from '../../src/endpoint.js';
import { LimitError, MessageError } from '../../src/errors.js';
import { crlfSha256 } from '../../src/mail/hash.js';
import { openImapSink } from '../../src/stores/imap/sink.js';
import type { AppendInput, Sink } from '../../src/types.js';
import { silentLogger } from '../../src/util/log.js';
import { readAccount } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, rig } from '../helpers/rig.js';
import { bigMessage, corpusMessages, edgeCaseMessages } from '../rig/seed.js';

function context(user: string, password: string): EndpointContext {
  const endpoint = parseEndpoint(imapUrl(user)) as ServerEndpoint;
  return {
    endpoint,
    log: silentLogger,
    largeMessageBytes: 1024 * 1024,
    server: {
      endpoint,
      auth: async () => ({ method: 'password', user, secret: password }),
      tls: { ca: [readFileSync(rig().caFile, 'utf8')], insecure: false },
      allowPlaintext: false,
      timeoutMs: 30_000,
    },
  };
}

function input(folder: string, raw: Buffer, flags: string[] = [], internalDate?: Date): AppendInput {
  // Several chunks, so collecting and CRLF handling cross chunk boundaries.
  const chunks = [raw.subarray(0, 7), raw.subarray(7, 100), raw.subarray(100)];
  return {
    folder,
    meta: { id: 'src-1', size: raw.length, flags },
    flags,
    internalDate,
    body: Readable.from(chunks),
  };
}

async function* slowly(raw: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < raw.length; i += 4096) {
    await sleep(1);
    yield raw.subarray(i, i + 4096);
  }
}

const edge = new Map(edgeCaseMessages().map((e) => [e.name, e.raw]));

let account: { user: string; password: string };
let sink: Sink;

beforeAll(async () => {
  account = await freshAccount('imapsink');
  sink = await openImapSink(context(account.user, account.password));
});

afterAll(async () => {
  await sink?.close();
});

describe('IMAP sink against Dovecot', () => {
  it('appends with flags, keywords and internal date; inventory shows them', async () => {
    const raw = corpusMessages(1, 10)[0]!;
    const date = new Date('2019-05-06T07:08:09Z');
    const res = await sink.append(
      input('INBOX', raw, ['\\Seen', '\\Flagged', '$Label1', 'Work', '\\Recent'], date),
    );
    expect(res.id).toMatch(/^\d+$/);
    expect(res.sha256).toBe(crlfSha256(raw));
    expect(res.droppedFlags).toBeUndefined();
    const inv = await sink.inventory('INBOX');
    const got = inv?.messages.find((m) => m.id === res.id);
    expect([...(got?.flags ?? [])].sort()).toEqual(['$Label1', 'Work', '\\Flagged', '\\Seen']);
    expect(got?.internalDate?.toISOString()).toBe('2019-05-06T07:08:09.000Z');
    expect(got?.messageId).toBeDefined();
    expect(got?.messageId).not.toMatch(/[<>]/);
  });

  it('stores 8-bit, long-line and LF-only messages hash-equal, and reports what it dropped', async () => {
    const names = ['latin1-8bit', 'utf8-8bit', 'long-line', 'lf', 'no-trailing-newline'];
    const results = [];
    for (const name of names)
      results.push(await sink.append(input('Edge', edge.get(name)!, ['bad flag', '\\Seen'])));
    for (const [i, name] of names.entries()) {
      expect(results[i]!.sha256, name).toBe(crlfSha256(edge.get(name)!));
      expect(results[i]!.droppedFlags, name).toEqual(['bad flag']);
    }
    const stored = (await readAccount(account.user, account.password)).get('Edge') ?? [];
    expect(stored.map((m) => m.sha256)).toEqual(results.map((r) => r.sha256));
    expect(stored.map((m) => String(m.uid))).toEqual(results.map((r) => r.id));
  });

  it('creates a missing folder on APPEND; inventory and status say undefined for missing ones', async () => {
    expect(await sink.inventory('Neu/Unterordner')).toBeUndefined();
    expect(await sink.folderStatus!('Neu/Unterordner')).toBeUndefined();
    const res = await sink.append(input('Neu/Unterordner', corpusMessages(1, 11)[0]!));
    const names = (await sink.listFolders()).map((f) => f.name);
    expect(names).toContain('Neu/Unterordner');
    const inv = await sink.inventory('Neu/Unterordner');
    expect(inv?.messages.map((m) => m.id)).toEqual([res.id]);
    expect(await sink.folderStatus!('Neu/Unterordner')).toMatchObject({
      messages: 1,
      uidValidity: inv?.uidValidity,
    });
  });

  it('ensureFolder creates non-ASCII folders and keeps the subscription state', async () => {
    await sink.ensureFolder({ name: 'Projekte/Ärger', delimiter: '/', subscribed: true });
    await sink.ensureFolder({ name: 'Versteckt', delimiter: '/', subscribed: false });
    await sink.ensureFolder({ name: 'Projekte/Ärger', delimiter: '/', subscribed: true });
    const byName = new Map((await sink.listFolders()).map((f) => [f.name, f]));
    expect(byName.get('Projekte/Ärger')).toMatchObject({ subscribed: true, selectable: true });
    expect(byName.get('Versteckt')).toMatchObject({ subscribed: false, selectable: true });
  });

  it('takes concurrent appends on one session, each with its own UID and whole body', async () => {
    const raws = corpusMessages(12, 20);
    const results = await Promise.all(
      raws.map((raw, i) => {
        // Like the executor: bodies arrive slowly and a 'data' listener taps them while they queue.
        const body = Readable.from(slowly(raw)).pipe(new PassThrough());
        body.on('data', () => undefined);
        return sink.append({
          folder: i % 2 ? 'Para' : 'INBOX',
          meta: { id: `${i}`, size: raw.length, flags: [] },
          flags: [],
          body,
        });
      }),
    );
    expect(results.map((r) => r.sha256)).toEqual(raws.map((r) => crlfSha256(r)));
    const para = await sink.inventory('Para');
    expect(para?.messages.map((m) => m.id).sort()).toEqual(
      results
        .filter((_, i) => i % 2)
        .map((r) => r.id)
        .sort(),
    );
    const stored = (await readAccount(account.user, account.password)).get('Para') ?? [];
    expect(stored.map((m) => m.sha256).sort()).toEqual(
      results
        .filter((_, i) => i % 2)
        .map((r) => r.sha256)
        .sort(),
    );
  });

  it('setFlags replaces the flags of one message', async () => {
    const res = await sink.append(input('INBOX', corpusMessages(1, 40)[0]!, ['\\Seen', '$Label1']));
    await sink.setFlags!('INBOX', res.id!, ['\\Answered', 'Later']);
    const got = (await sink.inventory('INBOX'))?.messages.find((m) => m.id === res.id);
    expect([...(got?.flags ?? [])].sort()).toEqual(['Later', '\\Answered']);
  });
});

describe('IMAP sink limits', () => {
  it('a full quota makes append throw LimitError (exit 4)', async () => {
    const acct = await freshAccount('imapquota', { quota: '*:storage=1M' });
    const full = await openImapSink(context(acct.user, acct.password));
    try {
      const err = await (async () => {
        for (let i = 0; i < 5; i++) await full.append(input('INBOX', bigMessage(400_000, `q${i}`)));
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LimitError);
      expect((err as LimitError).code).toBe('EQUOTA');
      expect((err as LimitError).exitCode).toBe(4);
    } finally {
      await full.close();
    }
  });

  it('a message above APPENDLIMIT is ETOOBIG for that message only', async () => {
    const acct = await freshAccount('imaptoobig', { maxMailSize: '100k' });
    const small = await openImapSink(context(acct.user, acct.password));
    try {
      const err = await small.append(input('INBOX', bigMessage(300_000))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MessageError);
      expect((err as MessageError).code).toBe('ETOOBIG');
      const ok = await small.append(input('INBOX', corpusMessages(1, 50)[0]!));
      expect(ok.id).toBe('1');
    } finally {
      await small.close();
    }
  });
});

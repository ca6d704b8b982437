import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { beforeAll, describe, expect, it } from 'vitest';
import { crlfSha256 } from '../../src/mail/hash.js';
import { hostileFolderNames, hostileMessages } from '../corpus/hostile.js';
import {
  parseMboxDir,
  readFileEndpoint,
  writeFileEndpoint,
  zipEntriesByPython,
} from '../corpus/read-back.js';
import { createFolders, HOSTILE_TIMEOUT_S, saveMessage } from '../corpus/seed-hostile.js';
import { runCli, runOptions } from '../helpers/cli.js';
import { freshAccount, imapUrl, pop3Url, rig } from '../helpers/rig.js';

/**
 * Every pair source ∈ {POP3, IMAP, mbox, zip} → sink ∈ {IMAP, mbox, zip} carries each hostile
 * message once and byte-exact (CRLF-normalised SHA-256), or lists it in the JSON report with a
 * reason and exits 1; it never exits 0 without a report, and never hangs (the test timeout).
 * What a pair legitimately cannot carry is listed in `refusal()`, and asserted exactly.
 */

const TIMEOUT_S = HOSTILE_TIMEOUT_S;
const corpus = hostileMessages({ bigBytes: 2 * 1024 * 1024 });
/** Small hostile messages that also go into every hostile folder. */
const PER_FOLDER = corpus.filter((m) => ['header-only-nonl', 'from-lines', 'dot-lines'].includes(m.name));
const nameOf = new Map(corpus.map((m) => [crlfSha256(m.raw), m.name]));
for (const m of corpus) {
  nameOf.set(crlfSha256(dovecotImapView(m.raw)), m.name);
  nameOf.set(crlfSha256(dovecotPop3View(m.raw)), m.name);
}

/**
 * What Dovecot hands out of what it stores, found by this test: a message that ends in a lone
 * CR comes out without it (POP3 and IMAP alike), and IMAP FETCH BODY[] (without BINARY)
 * shows NUL bytes as 0x80. Each pair is held to carry exactly what its source hands out.
 */
function dovecotPop3View(raw: Buffer): Buffer {
  const n = raw.length;
  return n && raw[n - 1] === 0x0d ? raw.subarray(0, n - 1) : raw;
}

function dovecotImapView(raw: Buffer): Buffer {
  const out = dovecotPop3View(raw);
  return out.includes(0) ? Buffer.from(out.map((b) => (b === 0 ? 0x80 : b))) : out;
}

interface Msg {
  folder: string;
  raw: Buffer;
}
type Kind = 'imap' | 'pop3' | 'mbox' | 'zip' | 'names-mbox' | 'names-zip';
interface Side {
  kind: 'imap' | 'pop3' | 'file';
  url: string;
  password?: string;
  /** What it holds, as bytes (a Dovecot account: as its IMAP server shows them). */
  read: () => Promise<Msg[]>;
}

const dir = mkdtempSync(join(tmpdir(), 'hostile-pairs-'));
const sides = new Map<Kind, Side>();
const seedRefused: string[] = [];
let foldersRefused: Array<{ name: string; reason: string }> = [];
let imapFolders: string[] = [];
const table: string[] = [];

async function imapSide(prefix: string): Promise<Side & { user: string }> {
  const a = await freshAccount(prefix);
  return {
    kind: 'imap',
    user: a.user,
    url: imapUrl(a.user),
    password: a.password,
    read: () => readImap(a.user, a.password),
  };
}

/** Every message of a rig account with its bytes, straight from Dovecot over IMAPS. */
async function readImap(user: string, pass: string): Promise<Msg[]> {
  const client = new ImapFlow({
    host: rig().host,
    port: rig().ports.imaps,
    secure: true,
    auth: { user, pass },
    logger: false,
    tls: { ca: [readFileSync(rig().caFile, 'utf8')] },
  });
  await client.connect();
  const out: Msg[] = [];
  try {
    for (const box of await client.list()) {
      if (box.flags.has('\\Noselect')) continue;
      const lock = await client.getMailboxLock(box.path, { readOnly: true });
      try {
        for await (const m of client.fetch('1:*', { source: true }))
          out.push({ folder: box.path, raw: m.source! });
      } catch (err) {
        if (!/Nothing to fetch|empty/i.test(String(err))) throw err;
      } finally {
        lock.release();
      }
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
  return out;
}

function fileSide(url: string): Side {
  return {
    kind: 'file',
    url,
    read: async () =>
      (await readFileEndpoint(url, { bytes: true })).map((m) => ({ folder: m.folder, raw: m.raw! })),
  };
}

/** A comparable key: folder and CRLF-normalised hash, as a sink of `kind` would show the bytes. */
function keyOf(folder: string, raw: Buffer, kind: Side['kind']): string {
  return `${folder}\n${crlfSha256(kind === 'imap' ? dovecotImapView(raw) : raw)}`;
}

async function seed(user: string, folder: string, msgs: typeof corpus) {
  for (const m of msgs) {
    try {
      await saveMessage(rig(), user, folder, m.raw);
    } catch (err) {
      seedRefused.push(`${folder}/${m.name}: ${(err as Error).message}`);
    }
  }
}

beforeAll(async () => {
  const pop = await imapSide('hp-pop');
  await seed(pop.user, 'INBOX', corpus);
  // POP3 hands out the stored bytes: what was saved is what it must carry.
  sides.set('pop3', {
    kind: 'pop3',
    url: pop3Url(pop.user),
    password: pop.password!,
    read: async () => corpus.map((m) => ({ folder: 'INBOX', raw: dovecotPop3View(m.raw) })),
  });
  const imap = await imapSide('hp-imap');
  await seed(imap.user, 'INBOX', corpus);
  const made = await createFolders(
    rig(),
    imap.user,
    hostileFolderNames().map((f) => f.name),
  );
  foldersRefused = made.refused;
  imapFolders = made.created;
  for (const f of made.created) await seed(imap.user, f, PER_FOLDER);
  sides.set('imap', imap);
  sides.set('mbox', fileSide(`mbox:${join(dir, 'source-mbox')}`));
  sides.set('zip', fileSide(`zip:${join(dir, 'source.zip')}`));
  // Folder names Dovecot will not create (a leading dot, '..') still occur in files.
  const named = hostileFolderNames().flatMap((f) => PER_FOLDER.map((m) => ({ folder: f.name, raw: m.raw })));
  for (const kind of ['mbox', 'zip'] as const) {
    const url = kind === 'mbox' ? `mbox:${join(dir, 'names-mbox')}` : `zip:${join(dir, 'names.zip')}`;
    await writeFileEndpoint(url, named);
    sides.set(`names-${kind}`, fileSide(url));
  }
}, 120_000);

/** Why `sinkKind` legitimately cannot take this message, or undefined when it must arrive byte-exact. */
function refusal(sinkKind: Side['kind'], folder: string, raw: Buffer): RegExp | undefined {
  if (sinkKind !== 'imap') return undefined;
  if (folder === '.hidden' || folder === '..') return /not allowed|cannot|refused/i;
  if (raw.length === 0 || raw.toString() === `sha256:${crlfSha256(Buffer.alloc(0))}`)
    return /zero byte message/;
  return undefined;
}

interface Report {
  failed: Array<{ folder: string; id: string; code: string; reason: string }>;
  copied: number;
}

/** One copy of a pair through the built CLI, with that pair's own state directory. */
function copyPair(from: Kind, source: Side, sink: Side, sinkKind: string) {
  return runCli(
    [
      'copy',
      source.url,
      sink.url,
      ...runOptions(join(dir, `state-${from}-${sinkKind}`)),
      '--timeout',
      String(TIMEOUT_S),
    ],
    {
      ...(source.password && { MAILFERRY_SOURCE_PASSWORD: source.password }),
      ...(sink.password && { MAILFERRY_SINK_PASSWORD: sink.password }),
    },
    true,
  );
}

async function runPair(from: Kind, source: Side, sink: Side, sinkKind: string): Promise<void> {
  const res = await copyPair(from, source, sink, sinkKind);
  // Never exit 0 without a report: stdout holds the JSON report whatever the code.
  expect(res.stdout, `exit ${res.code}: ${res.stderr}`).toMatch(/^\{/);
  const report = JSON.parse(res.stdout) as Report;
  const want = await source.read();
  const refusals: Array<{ folder: string; why: RegExp; name: string }> = [];
  const missing: string[] = [];
  const held = await sink.read();
  const sinkRaws = (keys: string[]) =>
    held
      .filter((m) => keys.includes(keyOf(m.folder, m.raw, sink.kind).replace('\n', '/')))
      .map((m) => JSON.stringify(m.raw.toString('latin1').slice(-200)));
  const got = new Map<string, number>();
  for (const m of held) {
    const k = keyOf(m.folder, m.raw, sink.kind);
    got.set(k, (got.get(k) ?? 0) + 1);
  }
  for (const m of want) {
    const k = keyOf(m.folder, m.raw, sink.kind);
    const name = nameOf.get(keyOf('', m.raw, 'file').slice(1)) ?? nameOf.get(k.split('\n')[1]!) ?? '?';
    const why = refusal(sink.kind, m.folder, m.raw);
    const n = got.get(k) ?? 0;
    if (why) {
      refusals.push({ folder: m.folder, why, name });
      continue;
    }
    // Each one once, byte-exact: count down the multiset (duplicates stay duplicates).
    if (n > 0) got.set(k, n - 1);
    else missing.push(`${m.folder}/${name}`);
  }
  const left = [...got].filter(([, n]) => n > 0).map(([k]) => k.replace('\n', '/'));
  if (missing.length || left.length)
    console.log(`${from} → ${sinkKind}`, { missing, left, raws: sinkRaws(left) });
  expect(missing, `${from} → ${sinkKind}: each message arrived byte-exact`).toEqual([]);
  expect(left, `${from} → ${sinkKind}: nothing else and nothing twice in the sink`).toEqual([]);
  // Exactly the refusals are in the report, each with its reason.
  const failed = report.failed.map((f) => `${f.folder}: ${f.reason}`).sort();
  expect(report.failed, JSON.stringify(report.failed)).toHaveLength(refusals.length);
  for (const r of refusals) {
    const hit = report.failed.findIndex((f) => f.folder === r.folder && r.why.test(f.reason));
    expect(hit, `${r.folder}/${r.name} reported: ${failed.join('; ')}`).toBeGreaterThanOrEqual(0);
    report.failed.splice(hit, 1);
  }
  expect(res.code, res.stderr).toBe(refusals.length ? 1 : 0);
  await rerunCopiesNothing(from, source, sink, sinkKind, held.length, refusals.length);
  if (sinkKind === 'mbox') {
    // Another reader, without the sidecar, sees one more "\n" on a message without a final
    // newline (an empty message stays empty).
    const lf = (raw: Buffer) =>
      raw.length === 0 || raw.at(-1) === 0x0a ? raw : Buffer.concat([raw, Buffer.from('\n')]);
    const outside = parseMboxDir(sink.url.slice('mbox:'.length)).map((b) => crlfSha256(b));
    expect(outside.sort()).toEqual(want.map((m) => crlfSha256(lf(m.raw))).sort());
  }
  if (sinkKind === 'zip') {
    // Another reader sees exactly the bytes, one entry per message.
    const outside = zipEntriesByPython(sink.url.slice('zip:'.length)).map((b) => crlfSha256(b));
    expect(outside.sort()).toEqual(want.map((m) => crlfSha256(m.raw)).sort());
  }
  const v = await verifyPair(from, source, sink, sinkKind);
  // verify reads the IMAP sink back through Dovecot, which shows POP3's NUL bytes as 0x80.
  const nulsAltered =
    from === 'pop3' && sink.kind === 'imap' ? want.filter((m) => m.raw.includes(0)).length : 0;
  expect(v.code, `verify ${from} → ${sinkKind}: ${v.line}`).toBe(refusals.length || nulsAltered ? 1 : 0);
  expect(v.sums, v.line).toEqual({
    sourceCount: want.length,
    compared: want.length - refusals.length,
    missing: refusals.length,
    different: nulsAltered,
    unreadable: 0,
  });
  table.push(
    `${from} → ${sinkKind}: exit ${res.code}; ${want.length - refusals.length} byte-exact; reported: ${
      failed.join('; ') || 'none'
    }`,
  );
}

/** The same copy again: nothing new is copied, the refusals are tried and reported again. */
async function rerunCopiesNothing(
  from: Kind,
  source: Side,
  sink: Side,
  sinkKind: string,
  held: number,
  refused: number,
) {
  const res = await copyPair(from, source, sink, sinkKind);
  expect(res.stdout, `re-run exit ${res.code}: ${res.stderr}`).toMatch(/^\{/);
  const report = JSON.parse(res.stdout) as Report;
  expect({ copied: report.copied, failed: report.failed.length, code: res.code }).toEqual({
    copied: 0,
    failed: refused,
    code: refused ? 1 : 0,
  });
  expect((await sink.read()).length).toBe(held);
}

interface VerifyReport {
  folders: Array<{
    sourceCount: number;
    compared: number;
    missing: string[];
    different: string[];
    unreadable: unknown[];
  }>;
}

/** `verify` after the copy: exit 0 only with every source message compared and identical. */
async function verifyPair(from: Kind, source: Side, sink: Side, sinkKind: string) {
  const res = await runCli(
    [
      'verify',
      source.url,
      sink.url,
      ...runOptions(join(dir, `state-v-${from}-${sinkKind}`)),
      '--timeout',
      String(TIMEOUT_S),
    ],
    {
      ...(source.password && { MAILFERRY_SOURCE_PASSWORD: source.password }),
      // verify reads the sink as a source.
      ...(sink.password && { MAILFERRY_SINK_PASSWORD: sink.password }),
    },
    true,
  );
  expect(res.stdout, `verify exit ${res.code}: ${res.stderr}`).toMatch(/^\{/);
  const r = JSON.parse(res.stdout) as VerifyReport;
  const sum = (f: (x: VerifyReport['folders'][number]) => number) => r.folders.reduce((n, x) => n + f(x), 0);
  const line = `compared ${sum((f) => f.compared)} of ${sum((f) => f.sourceCount)}, missing ${sum((f) => f.missing.length)}, different ${sum((f) => f.different.length)}, unreadable ${sum((f) => f.unreadable.length)}`;
  if (res.code === 0) expect(sum((f) => f.compared)).toBe(sum((f) => f.sourceCount));
  verifyTable.push(`verify ${from} → ${sinkKind}: exit ${res.code}; ${line}`);
  const sums = {
    sourceCount: sum((f) => f.sourceCount),
    compared: sum((f) => f.compared),
    missing: sum((f) => f.missing.length),
    different: sum((f) => f.different.length),
    unreadable: sum((f) => f.unreadable.length),
  };
  return { code: res.code, line, sums };
}

const verifyTable: string[] = [];
const SOURCES: Kind[] = ['imap', 'pop3', 'mbox', 'zip', 'names-mbox', 'names-zip'];
const SINKS = ['imap', 'mbox', 'zip'] as const;

describe('hostile messages through every pair', () => {
  it('seeds them into Dovecot as they are, and Dovecot IMAP shows them as expected', async () => {
    expect(seedRefused).toEqual([]);
    // Maildir++ keeps '.' as its own separator on disk.
    expect(foldersRefused.map((f) => f.name).sort()).toEqual(['..', '.hidden']);
    expect(imapFolders).toHaveLength(hostileFolderNames().length - 2);
    const held = await sides.get('imap')!.read();
    const want = [
      ...corpus.map((m) => keyOf('INBOX', m.raw, 'imap')),
      ...imapFolders.flatMap((f) => PER_FOLDER.map((m) => keyOf(f, m.raw, 'imap'))),
    ].sort();
    expect(held.map((m) => keyOf(m.folder, m.raw, 'imap')).sort()).toEqual(want);
  });

  // The mbox and zip sources are written by the pairs IMAP → mbox and IMAP → zip, which run first.
  for (const from of SOURCES) {
    for (const to of SINKS) {
      it(`${from} → ${to}`, async () => {
        const source = sides.get(from)!;
        const sink =
          from === 'imap' && to !== 'imap'
            ? sides.get(to)!
            : to === 'imap'
              ? await imapSide(`hp-${from}-dst`)
              : fileSide(
                  to === 'mbox' ? `mbox:${join(dir, `${from}-mbox`)}` : `zip:${join(dir, `${from}.zip`)}`,
                );
        await runPair(from, source, sink, to);
      }, 90_000);
    }
  }

  it('prints what each pair did', () => {
    console.log([...table, ...verifyTable].join('\n'));
    expect(table.length).toBe(SOURCES.length * SINKS.length);
  });
});

import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { copy } from '../../src/commands/copy.js';
import { MailferryError } from '../../src/errors.js';
import { crlfSha256 } from '../../src/mail/hash.js';
import { messageIdOf } from '../../src/mail/headers.js';
import type { FolderInfo, Sink, Source } from '../../src/types.js';
import { hostileFolderNames, hostileMessages } from '../corpus/hostile.js';
import { writeFileEndpoint } from '../corpus/read-back.js';
import {
  logicalName,
  openSinkOf,
  openSourceOf,
  type StoreUnderTest,
  storeName,
  type TestEndpoint,
} from './stores.js';

/**
 * The store contract: every store that is a sink and a source runs it. What its sink stores,
 * its own source must give back: bytes (SHA-256 of the CRLF-normalised bytes), flags, dates,
 * hostile folder names; sessions can be re-opened and appended to; a copy whose journal lost
 * its `done` lines (appended, then killed before journaling) is never copied twice.
 */

const CORPUS = hostileMessages({ bigBytes: 48 * 1024 });
const FLAG_SETS = [[], ['\\Seen'], ['\\Seen', '\\Flagged'], ['\\Answered', '$Label1'], ['\\Draft', 'Work']];
const BASE_DATE = Date.UTC(2002, 9, 1, 10, 0, 0);

interface Held {
  folder: string;
  id: string;
  sha256: string;
  flags: string[];
  date?: number;
}

function body(raw: Buffer): Readable {
  // Several chunks, so every sink sees boundaries inside lines and CRLFs.
  const parts = [raw.subarray(0, 5), raw.subarray(5, 301), raw.subarray(301)];
  return Readable.from(parts, { objectMode: false });
}

function append(sink: Sink, folder: string, raw: Buffer, flags: string[], date: Date, id = '1') {
  return sink.append({
    folder,
    meta: { id, size: raw.length, flags },
    flags,
    internalDate: date,
    body: body(raw),
  });
}

async function readBytes(source: Source, folder: FolderInfo, id: string, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await source.open(folder, { id, size, flags: [] })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Every message the store's source holds, checked against what its own inventory said. */
async function readBack(e: TestEndpoint, rawSizes = false): Promise<Held[]> {
  const source = await openSourceOf(e);
  const out: Held[] = [];
  try {
    for (const folder of await source.listFolders()) {
      if (folder.selectable === false) continue;
      for (const m of (await source.inventory(folder)).messages) {
        const raw = await readBytes(source, folder, m.id, m.size);
        const sha256 = crlfSha256(raw);
        // Identity rests on these: the size is the CRLF size, the Message-ID the header's.
        const size = rawSizes ? raw.length : normalise(raw).length;
        expect(m.size, `${folder.name} ${m.id}: inventory size`).toBe(size);
        expect(m.messageId, `${folder.name} ${m.id}: Message-ID`).toBe(messageIdOf(raw));
        if (m.sha256) expect(m.sha256).toBe(sha256);
        const held: Held = {
          folder: logicalName(source.namespace, folder.name),
          id: m.id,
          sha256,
          flags: m.flags,
        };
        if (m.internalDate) held.date = Math.floor(m.internalDate.getTime() / 1000);
        out.push(held);
      }
    }
  } finally {
    await source.close();
  }
  return out;
}

function normalise(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/(?<!\r)\n/g, '\r\n'), 'latin1');
}

const flagKey = (flags: string[], keywords: boolean) =>
  flags
    .filter((f) => f !== '\\Recent' && (keywords || f.startsWith('\\')))
    .map((f) => f.toLowerCase())
    .sort()
    .join(' ');

export function storeContract(store: StoreUnderTest): void {
  describe(`${store.name}: store contract`, () => {
    it('keeps the hostile corpus byte-exact, with flags and internal dates', () => corpusRoundTrip(store));
    it('keeps folders with hostile names, each with its message', () => hostileFolders(store));
    it('re-opens and appends more; ids stay the same across sessions', () => reopenAndAppend(store));
    it('a copy killed between the sink write and the journal copies nothing twice', () =>
      crashBeforeJournal(store));
  });
}

async function corpusRoundTrip(store: StoreUnderTest): Promise<void> {
  const e = await store.fresh();
  const sink = await openSinkOf(e);
  const want: string[] = [];
  const refused: string[] = [];
  try {
    await sink.ensureFolder({ name: 'INBOX', delimiter: '/' });
    for (const [i, m] of CORPUS.entries()) {
      const flags = FLAG_SETS[i % FLAG_SETS.length]!;
      const date = new Date(BASE_DATE + i * 60_000);
      const quirk = store.quirk(m.name);
      try {
        const res = await append(sink, 'INBOX', m.raw, flags, date, String(i));
        if (res.sha256) expect(res.sha256, m.name).toBe(crlfSha256(m.raw));
        if (quirk !== 'altered')
          want.push(`${crlfSha256(m.raw)} ${flagKey(flags, store.keepsKeywords)} ${date.getTime() / 1000}`);
      } catch (err) {
        expect(quirk && quirk !== 'altered', `${m.name} refused: ${(err as Error).message}`).toBeTruthy();
        expect(err).toBeInstanceOf(MailferryError);
        if (quirk && quirk !== 'altered') expect((err as Error).message).toMatch(quirk.refused);
        refused.push(m.name);
      }
    }
  } finally {
    await sink.close();
  }
  const expectedRefused = CORPUS.filter((m) => {
    const q = store.quirk(m.name);
    return q && q !== 'altered';
  }).map((m) => m.name);
  expect(refused).toEqual(expectedRefused);
  const held = (await readBack(e, store.rawSizes)).filter((h) => h.folder === 'INBOX');
  expect(held).toHaveLength(CORPUS.length - refused.length);
  const got = held.map((h) => `${h.sha256} ${flagKey(h.flags, store.keepsKeywords)} ${h.date}`);
  for (const w of want) {
    const at = got.indexOf(w);
    expect(at, `missing or changed: ${w}`).toBeGreaterThanOrEqual(0);
    got.splice(at, 1);
  }
}

async function hostileFolders(store: StoreUnderTest): Promise<void> {
  const e = await store.fresh();
  const sink = await openSinkOf(e);
  const refused: string[] = [];
  const kept = new Map<string, string>();
  const delimiter = sink.namespace?.delimiter ?? '/';
  // A name holding the store's own delimiter is the planner's to escape, not the store's.
  const names = hostileFolderNames().filter((f) => delimiter === '/' || !f.name.includes(delimiter));
  try {
    for (const [i, f] of names.entries()) {
      const name = storeName(sink.namespace, f.name);
      const raw = Buffer.from(`Message-ID: <folder-${i}@contract>\r\nSubject: ${i}\r\n\r\nin ${i}\r\n`);
      try {
        await sink.ensureFolder({ name, delimiter, subscribed: true });
        await append(sink, name, raw, ['\\Seen'], new Date(BASE_DATE));
        kept.set(f.name, crlfSha256(raw));
      } catch (err) {
        expect(err, `${f.name}: ${(err as Error).message}`).toBeInstanceOf(MailferryError);
        refused.push(f.name);
      }
    }
  } finally {
    await sink.close();
  }
  expect(refused).toEqual(
    hostileFolderNames()
      .map((f) => f.name)
      .filter((n) => store.refusesFolder(n)),
  );
  const held = await readBack(e, store.rawSizes);
  for (const [folder, sha] of kept) {
    expect(
      held.filter((h) => h.folder === folder).map((h) => h.sha256),
      folder,
    ).toEqual([sha]);
  }
}

async function reopenAndAppend(store: StoreUnderTest): Promise<void> {
  const e = await store.fresh();
  const folder = 'Archive/2024';
  const raws = [0, 1, 2, 3, 4].map((i) =>
    Buffer.from(`Message-ID: <reopen-${i}@contract>\r\nSubject: ${i}\r\n\r\nmessage ${i}\r\n`),
  );
  for (const [start, end] of [
    [0, 3],
    [3, 5],
  ] as const) {
    const part = raws.slice(start, end);
    const sink = await openSinkOf(e);
    try {
      const name = storeName(sink.namespace, folder);
      await sink.ensureFolder({ name, delimiter: sink.namespace?.delimiter ?? '/' });
      const before = (await sink.inventory(name))?.messages.length ?? 0;
      expect(before).toBe(start);
      for (const [i, raw] of part.entries())
        await append(sink, name, raw, [], new Date(BASE_DATE + i * 1000));
      expect((await sink.inventory(name))?.messages).toHaveLength(before + part.length);
    } finally {
      await sink.close();
    }
  }
  const first = (await readBack(e, store.rawSizes)).filter((h) => h.folder === folder);
  const second = (await readBack(e, store.rawSizes)).filter((h) => h.folder === folder);
  expect(first.map((h) => h.sha256).sort()).toEqual(raws.map((r) => crlfSha256(r)).sort());
  expect(second.map((h) => h.id)).toEqual(first.map((h) => h.id));
}

async function crashBeforeJournal(store: StoreUnderTest): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mf-contract-crash-'));
  const from = `mbox:${join(dir, 'source')}`;
  const messages = ['subject-only', 'no-message-id', 'dup-1', 'dup-2', 'same-id-a', 'same-id-b', 'bare-lf']
    .map((n) => CORPUS.find((m) => m.name === n)!)
    .map((m) => ({ folder: 'INBOX', raw: m.raw }));
  await writeFileEndpoint(from, messages);
  const e = await store.fresh();
  const stateDir = join(dir, 'state');
  const req = {
    stateDir,
    env: e.env,
    progress: 'none' as const,
    ...(e.caFile ? { caFile: e.caFile } : {}),
  };
  const first = await copy(from, e.url, req);
  expect(first.copied).toBe(messages.length);
  // The sink holds every message, the journal none: as if killed after each append.
  const journal = journalOf(stateDir);
  const lines = readFileSync(journal, 'utf8').split('\n');
  writeFileSync(
    journal,
    lines.filter((l) => !l.includes('"t":"done"') && !l.includes('"t":"folder"')).join('\n'),
  );
  const second = await copy(from, e.url, req);
  expect(second.copied, JSON.stringify(second.failed)).toBe(0);
  rmSync(stateDir, { recursive: true, force: true });
  const third = await copy(from, e.url, req);
  expect(third.copied).toBe(0);
  const held = (await readBack(e, store.rawSizes)).filter((h) => h.folder === 'INBOX');
  expect(held.map((h) => h.sha256).sort()).toEqual(messages.map((m) => crlfSha256(m.raw)).sort());
}

function journalOf(stateDir: string): string {
  for (const d of readdirSync(stateDir)) {
    const f = join(stateDir, d, 'journal.jsonl');
    try {
      readFileSync(f);
      return f;
    } catch {}
  }
  throw new Error(`no journal under ${stateDir}`);
}

import type { Readable } from 'node:stream';
import { MailferryError } from '../errors.js';
import { CrlfHasher } from '../mail/hash.js';
import { pairMessages } from '../plan/diff.js';
import { mapFolders } from '../plan/folders.js';
import { namespaceOf } from '../plan/gather.js';
import { identityKey, KeyBag } from '../plan/identity.js';
import { ByteBudget } from '../run/budget.js';
import { Watchdog } from '../run/watchdog.js';
import type { FolderInfo, MessageMeta, Source } from '../types.js';
import { openSource, prepareSide, type TransferRequest } from './common.js';
import { transferOptionsOf } from './transfer.js';
import { verifyResidual } from './verify-all-mail.js';

export interface FolderVerdict {
  source: string;
  target: string;
  sourceCount: number;
  sinkCount: number;
  missing: string[];
  extra: string[];
  different: string[];
  /** Source messages compared with their sink copy; every one of them must be for exit 0. */
  compared: number;
  /** Messages that could not be read to the end on either side, with the reason. */
  unreadable: Array<{ id: string; reason: string }>;
}

export interface VerifyReport {
  source: string;
  sink: string;
  folders: FolderVerdict[];
  ok: boolean;
  exitCode: number;
}

/**
 * `mailferry verify`: every source message must be in the sink, matched by identity,
 * with an identical CRLF-normalised SHA-256. Reads the sink as a source (IMAP, mbox, zip).
 */
export async function verify(
  sourceText: string,
  sinkText: string,
  req: TransferRequest = {},
): Promise<VerifyReport> {
  const options = transferOptionsOf(req);
  const src = prepareSide('source', sourceText, req, options.largeMessageBytes);
  const dst = prepareSide('sink', sinkText, req, options.largeMessageBytes);
  const a = await openSource(src);
  let b: Source | undefined;
  try {
    b = await openSource(dst);
    const sinkFolders = await b.listFolders();
    const mappings = mapFolders(
      await a.listFolders(),
      sinkFolders,
      namespaceOf(b, sinkFolders),
      a.capabilities.hasFolders,
      options,
      a.namespace,
    );
    const folders: FolderVerdict[] = [];
    const stallMs = req.timeoutMs ?? 60_000;
    for (const m of mappings) folders.push(await verifyFolder(a, b, m.source, m.target, m.create, stallMs));
    const residual = await verifyResidual(a, sinkFolders, mappings, options, namespaceOf(b, sinkFolders));
    if (residual) {
      const { target, messages } = residual;
      folders.push(await verifyFolder(a, b, target.source, target.target, target.create, stallMs, messages));
    }
    // Exit 0 needs the whole source read: every message compared, none unreadable.
    const ok = folders.every(
      (f) => !f.missing.length && !f.different.length && !f.unreadable.length && f.compared === f.sourceCount,
    );
    return { source: src.name, sink: dst.name, folders, ok, exitCode: ok ? 0 : 1 };
  } finally {
    await Promise.allSettled([a.close(), b?.close()]);
  }
}

async function verifyFolder(
  a: Source,
  b: Source,
  sf: FolderInfo,
  tf: FolderInfo,
  missingAtSink: boolean,
  stallMs: number,
  /** Only these of the folder's messages (All Mail's residual). */
  only?: MessageMeta[],
): Promise<FolderVerdict> {
  const inv = only ? { folder: sf, messages: only } : await a.inventory(sf);
  if (a.capabilities.lazyIdentity && a.identify) await a.identify(sf, inv.messages);
  const sinkMsgs = missingAtSink ? [] : (await b.inventory(tf)).messages;
  const verdict: FolderVerdict = {
    source: sf.name,
    target: tf.name,
    sourceCount: inv.messages.length,
    sinkCount: sinkMsgs.length,
    missing: [],
    extra: [],
    different: [],
    compared: 0,
    unreadable: [],
  };
  const { pairs, unmatched, leftover } = pairMessages(inv.messages, sinkMsgs, identityKey);
  const side = { a, b, sf, tf, stallMs, verdict };
  const differing: Array<{ m: MessageMeta; x: string; y: string }> = [];
  await eachInWindow(pairs, async (p) => {
    await readable(side, p.m.id, async () => {
      const { m, hit } = p;
      const [x, y] = await Promise.all([
        hashOf(a, sf, m, stallMs),
        hit.sha256 ? Promise.resolve(hit.sha256) : hashOf(b, tf, hit, stallMs),
      ]);
      verdict.compared++;
      if (x !== y) differing.push({ m, x, y });
    });
  });
  const different = new Set(stillDifferent(differing));
  verdict.different.push(...pairs.filter(({ m }) => different.has(m.id)).map(({ m }) => m.id));
  await matchByBytes(
    side,
    unmatched.map(({ m }) => m),
    leftover,
  );
  return verdict;
}

/**
 * Two messages with one identity (same Message-ID and size, other bytes) pair in whatever
 * order the sink lists them, and crossed pairs would read as two differences. Within one
 * identity, a source message whose bytes some pair's sink copy has is not different.
 */
function stillDifferent(differing: Array<{ m: MessageMeta; x: string; y: string }>): string[] {
  const byKey = new Map<string, Array<{ m: MessageMeta; x: string; y: string }>>();
  for (const d of differing) {
    const k = identityKey(d.m);
    byKey.set(k, [...(byKey.get(k) ?? []), d]);
  }
  const ids: string[] = [];
  for (const group of byKey.values()) {
    const sinkCopies = KeyBag.of(group.map((d) => d.y));
    for (const d of group) if (!sinkCopies.take(d.x)) ids.push(d.m.id);
  }
  return ids;
}

/** Messages read at once: enough for the IMAP sources to batch their FETCHes. */
const VERIFY_WINDOW = 256;
const VERIFY_BYTES = 4 * 1024 * 1024;

/**
 * Runs fn for each pair with many in flight (under a byte budget), so batching sources fetch
 * hundreds of messages per command instead of one round trip per message.
 */
async function eachInWindow(
  pairs: Array<{ m: MessageMeta; hit: MessageMeta }>,
  fn: (p: { m: MessageMeta; hit: MessageMeta }) => Promise<void>,
): Promise<void> {
  const budget = new ByteBudget(VERIFY_BYTES);
  let next = 0;
  const worker = async () => {
    while (next < pairs.length) {
      const p = pairs[next++]!;
      const weight = p.m.size + (p.hit.sha256 ? 0 : p.hit.size);
      await budget.take(weight);
      try {
        await fn(p);
      } finally {
        budget.give(weight);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(VERIFY_WINDOW, pairs.length) }, worker));
}

interface Sides {
  a: Source;
  b: Source;
  sf: FolderInfo;
  tf: FolderInfo;
  stallMs: number;
  verdict: FolderVerdict;
}

/** Runs one message's comparison; a message that cannot be read fails the verdict, not the verify. */
async function readable(s: Sides, id: string, fn: () => Promise<void>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (!(err instanceof MailferryError && err.scope === 'message')) throw err;
    s.verdict.unreadable.push({ id, reason: err.message });
    return false;
  }
}

/**
 * Identity can differ between two sides that learnt it differently: a date the source could
 * not know (POP3 without Received or Date, dated at copy time), a Message-ID only one side
 * read from the header. What identity left unmatched is matched by its bytes instead, so
 * only a message whose bytes are nowhere in the sink counts as missing.
 */
async function matchByBytes(s: Sides, unmatched: MessageMeta[], leftover: MessageMeta[]): Promise<void> {
  const spare = new Map<string, string[]>();
  if (unmatched.length) {
    for (const m of leftover) {
      await readable(s, m.id, async () => {
        const h = m.sha256 ?? (await hashOf(s.b, s.tf, m, s.stallMs));
        spare.set(h, [...(spare.get(h) ?? []), m.id]);
      });
    }
  } else {
    s.verdict.extra.push(...leftover.map((m) => m.id));
    return;
  }
  for (const m of unmatched) {
    if (spare.size === 0) {
      s.verdict.missing.push(m.id);
      continue;
    }
    await readable(s, m.id, async () => {
      const ids = spare.get(await hashOf(s.a, s.sf, m, s.stallMs));
      if (ids?.length) {
        ids.pop();
        s.verdict.compared++;
      } else s.verdict.missing.push(m.id);
    });
  }
  for (const ids of spare.values()) s.verdict.extra.push(...ids);
}

/** The message's CRLF-normalised SHA-256, failing it (ESTALLED) when its bytes stop moving. */
async function hashOf(s: Source, folder: FolderInfo, m: MessageMeta, stallMs: number): Promise<string> {
  const dog = new Watchdog(stallMs);
  dog.phase = `reading message ${m.id} of ${folder.name}`;
  let stream: Readable | undefined;
  try {
    const opening = s.open(folder, m);
    opening.then(
      (late) => dog.error && late.destroy(),
      () => undefined,
    );
    stream = await dog.guard(opening);
    const h = new CrlfHasher();
    const body = stream;
    const reading = (async () => {
      for await (const chunk of body) {
        dog.touch();
        h.update(chunk as Buffer);
      }
    })();
    reading.catch(() => undefined);
    await dog.guard(reading);
    return h.digest();
  } finally {
    dog.stop();
    if (dog.error) stream?.destroy();
  }
}

export function formatVerify(r: VerifyReport): string {
  const lines = [`Verify: ${r.source} -> ${r.sink}`];
  for (const f of r.folders) {
    const bad = f.missing.length + f.different.length + f.unreadable.length;
    lines.push(
      `  ${bad ? 'DIFF' : 'ok  '} ${f.source} -> ${f.target}: ${f.sourceCount} at source, ${f.sinkCount} at sink, ${f.missing.length} missing, ${f.different.length} different, ${f.extra.length} extra`,
    );
    for (const id of f.missing.slice(0, 20)) lines.push(`       missing ${id}`);
    for (const id of f.different.slice(0, 20)) lines.push(`       different ${id}`);
    for (const u of f.unreadable.slice(0, 20)) lines.push(`       unreadable ${u.id}: ${u.reason}`);
  }
  lines.push(
    r.ok
      ? 'Every source message is in the sink with identical bytes.'
      : 'The sink is not complete and identical.',
  );
  return lines.join('\n');
}

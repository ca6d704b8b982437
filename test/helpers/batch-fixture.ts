import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusMessages } from '../rig/corpus.js';
import { readLogical, seedFolders } from './imap-any.js';
import { countBy } from './mailbox.js';
import { type ServerAccount, type ServerInfo, serverAccount } from './servers.js';

export interface FixturePair {
  source: ServerAccount;
  sink: ServerAccount;
  /** Seeded source messages: logical folder -> CRLF SHA-256s. */
  expected: Map<string, string[]>;
}

export interface PairSpec {
  from: ServerInfo;
  to: ServerInfo;
  messages: number;
}

/** Seeds each source account (INBOX and Archive) with real corpus mail; sinks start empty. */
export async function makePairs(specs: PairSpec[], prefix: string): Promise<FixturePair[]> {
  const out: FixturePair[] = [];
  let offset = 0;
  for (const s of specs) {
    const source = await serverAccount(s.from, `${prefix}s`);
    const sink = await serverAccount(s.to, `${prefix}k`);
    const msgs = corpusMessages(s.messages, offset);
    offset = (offset + s.messages) % 5000;
    const half = Math.ceil(msgs.length / 2);
    const seeded = await seedFolders(source, [
      { name: 'INBOX', messages: msgs.slice(0, half) },
      { name: 'Archive', messages: msgs.slice(half) },
    ]);
    const expected = new Map<string, string[]>();
    for (const m of seeded) expected.set(m.folder, [...(expected.get(m.folder) ?? []), m.sha256]);
    out.push({ source, sink, expected });
  }
  return out;
}

export interface CsvOptions {
  dir: string;
  /** Port to reach a server at (a counting proxy), else its own imaps port. */
  portOf?: (s: ServerInfo) => number;
  /** Half the pairs name their passwords by env:NAME; returned with the values to export. */
  envRefs?: boolean;
}

/** Writes accounts.csv with credentials by reference (file: or env:); returns its path and env. */
export function writeAccountsCsv(
  pairs: FixturePair[],
  o: CsvOptions,
): { csv: string; env: Record<string, string> } {
  mkdirSync(join(o.dir, 'pw'), { recursive: true });
  const env: Record<string, string> = {};
  const url = (a: ServerAccount) =>
    `imaps://${encodeURIComponent(a.user)}@127.0.0.1:${o.portOf?.(a.server) ?? a.server.ports.imaps}`;
  const ref = (a: ServerAccount, i: number, side: string) => {
    if (o.envRefs && i % 2 === 1) {
      const name = `BATCH_PW_${side}_${i}`;
      env[name] = a.password;
      return `env:${name}`;
    }
    const file = join(o.dir, 'pw', `${side}-${i}`);
    writeFileSync(file, `${a.password}\n`, { mode: 0o600 });
    return `file:${file}`;
  };
  const lines = ['name,source,sink,source_auth,sink_auth'];
  pairs.forEach((p, i) => {
    lines.push(
      [`pair${i}`, url(p.source), url(p.sink), ref(p.source, i, 'S'), ref(p.sink, i, 'K')].join(','),
    );
  });
  const csv = join(o.dir, 'accounts.csv');
  writeFileSync(csv, `${lines.join('\n')}\n`);
  return { csv, env };
}

/** Per pair: folders whose sink copy lacks a seeded message, or holds one twice (or a stranger). */
export async function exactlyOnceProblems(pairs: FixturePair[]): Promise<string[]> {
  const problems: string[] = [];
  for (const [i, p] of pairs.entries()) {
    const sink = await readLogical(p.sink);
    for (const [folder, hashes] of p.expected) {
      const want = countBy(hashes, (h) => h);
      const got = countBy(sink.get(folder)?.messages ?? [], (m) => m.sha256);
      let lost = 0;
      let dup = 0;
      for (const [h, n] of want) lost += Math.max(0, n - (got.get(h) ?? 0));
      for (const [h, n] of got) dup += Math.max(0, n - (want.get(h) ?? 0));
      if (lost || dup) problems.push(`pair${i} ${folder}: ${lost} lost, ${dup} duplicated`);
    }
  }
  return problems;
}

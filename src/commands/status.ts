import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultStateDir } from '../config.js';
import { CheckpointState, type PairInfo, parseJournal } from '../run/checkpoint.js';
import { lockHolder } from '../run/lock.js';
import { PAIR_LOCK } from './locks.js';

export interface StatusEntry {
  dir: string;
  source: string;
  sink: string;
  state: 'running' | 'finished' | 'interrupted' | 'failed';
  /** The process copying now (state 'running'), from the pair's lock. */
  pid?: number;
  runs: number;
  copied: number;
  deleted: number;
  lastExit?: number;
}

/** `mailferry status`: every transfer in the state directory: running, finished or interrupted. */
export function status(stateDir = defaultStateDir()): StatusEntry[] {
  let dirs: string[];
  try {
    dirs = readdirSync(stateDir);
  } catch {
    return [];
  }
  const out: StatusEntry[] = [];
  for (const d of dirs.sort()) {
    const dir = join(stateDir, d);
    let pair: PairInfo;
    try {
      pair = JSON.parse(readFileSync(join(dir, 'pair.json'), 'utf8')) as PairInfo;
    } catch {
      continue;
    }
    const file = join(dir, 'journal.jsonl');
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {}
    const st = new CheckpointState();
    for (const r of parseJournal(text, file)) st.apply(r);
    let copied = 0;
    for (const m of st.known.values()) copied += m.size;
    let deleted = 0;
    for (const s of st.deleted.values()) deleted += s.size;
    const end = st.lastEnd;
    const state = !end
      ? 'interrupted'
      : end.exit === 0
        ? 'finished'
        : end.exit === 130
          ? 'interrupted'
          : 'failed';
    const entry: StatusEntry = {
      dir,
      source: pair.source,
      sink: pair.sink,
      state,
      runs: st.runs,
      copied,
      deleted,
    };
    if (end) entry.lastExit = end.exit;
    const holder = lockHolder(join(dir, PAIR_LOCK));
    if (holder) Object.assign(entry, { state: 'running', pid: holder.pid });
    out.push(entry);
  }
  return out;
}

export function formatStatus(entries: StatusEntry[]): string {
  if (!entries.length) return 'No transfers in the state directory.';
  return entries
    .map(
      (e) =>
        `${e.state.padEnd(11)} ${e.source} -> ${e.sink}\n            ${e.pid ? `pid ${e.pid}, ` : ''}${e.copied} copied, ${e.deleted} deleted at the source, ${e.runs} run(s)${e.lastExit === undefined ? '' : `, last exit ${e.lastExit}`}\n            ${e.dir}`,
    )
    .join('\n');
}

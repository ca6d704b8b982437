/**
 * Top self-time functions and files from V8 .cpuprofile files (node --cpu-prof).
 *
 *   npx tsx bench/profile.ts DIR_OR_FILE [--top 25]
 *
 * All profiles found are added up, so several runs of one job make one summary.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Hotspot {
  name: string;
  ms: number;
  share: number;
}

function profiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? profiles(join(path, e.name))
      : e.name.endsWith('.cpuprofile')
        ? [join(path, e.name)]
        : [],
  );
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function where(url: string): string {
  if (!url) return '(native)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith(ROOT) ? relative(ROOT, path) : path;
}

function label(f: CallFrame): string {
  return `${f.functionName || '(anonymous)'} ${where(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
}

function add(map: Map<string, number>, key: string, ms: number): void {
  map.set(key, (map.get(key) ?? 0) + ms);
}

export interface Times {
  byFunction: Map<string, number>;
  byFile: Map<string, number>;
  /** Time with the function anywhere on the stack, for mailferry's own code (dist/, src/). */
  inclusiveOwn: Map<string, number>;
  total: number;
}

/** Self time (ms) per function and per file, summed over profiles; inclusive time for our own code. */
export function selfTimes(files: string[]): Times {
  const t: Times = { byFunction: new Map(), byFile: new Map(), inclusiveOwn: new Map(), total: 0 };
  for (const file of files) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    p.samples.forEach((id, i) => {
      const ms = (p.timeDeltas[i] ?? 0) / 1000;
      const f = nodes.get(id);
      if (!f) return;
      add(t.byFunction, label(f), ms);
      add(t.byFile, where(f.url), ms);
      t.total += ms;
      const own = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const frame = nodes.get(at);
        if (frame && /^(dist|src)\//.test(where(frame.url))) own.add(label(frame));
      }
      for (const key of own) add(t.inclusiveOwn, key, ms);
    });
  }
  return t;
}

export function top(map: Map<string, number>, total: number, n: number): Hotspot[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => ({ name, ms, share: total ? ms / total : 0 }));
}

function print(title: string, rows: Hotspot[]): void {
  console.log(`\n${title}`);
  for (const r of rows)
    console.log(`${r.ms.toFixed(0).padStart(8)} ms ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.name}`);
}

function main(): void {
  const path = process.argv[2];
  if (!path) throw new Error('usage: tsx bench/profile.ts DIR_OR_FILE [--top N]');
  const i = process.argv.indexOf('--top');
  const n = i > 0 ? Number(process.argv[i + 1]) : 25;
  const files = profiles(path);
  const { byFunction, byFile, inclusiveOwn, total } = selfTimes(files);
  console.log(`${files.length} profile(s), ${total.toFixed(0)} ms sampled`);
  print('top self time by function', top(byFunction, total, n));
  print('top self time by file', top(byFile, total, Math.min(n, 15)));
  print("mailferry's own functions by inclusive time", top(inclusiveOwn, total, Math.min(n, 15)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();

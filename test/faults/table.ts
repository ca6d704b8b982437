/**
 * The fault suite's results: each scenario appends one JSON line (recordResult), and
 * `tsx test/faults/table.ts` prints them as a table (`--clear` empties the file first).
 * Path: MAILFERRY_FAULTS_RESULTS, else mailferry-faults.jsonl in the temp dir.
 */
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ResultRow {
  pair: string;
  fault: string;
  outcome: 'ok' | 'FAIL';
  lost: number;
  duplicated: number;
  /** Exit code of `mailferry verify` afterwards (null: it did not end by itself). */
  verifyExit: number | null;
  /** Exit code of the faulted (or, for kills, the final) copy run; null: killed at the deadline. */
  runExit: number | null;
  seconds: number;
  notes: string;
}

export function resultsFile(): string {
  return process.env.MAILFERRY_FAULTS_RESULTS ?? join(tmpdir(), 'mailferry-faults.jsonl');
}

/** One line per write: appends from parallel workers stay whole. */
export function recordResult(row: ResultRow): void {
  appendFileSync(resultsFile(), `${JSON.stringify(row)}\n`);
}

export function readResults(file = resultsFile()): ResultRow[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ResultRow);
}

const PAIR_ORDER = ['IMAP→IMAP', 'POP3→IMAP', 'IMAP→zip', 'IMAP→mbox'];

export function formatTable(rows: ResultRow[]): string {
  const sorted = [...rows].sort(
    (a, b) => rank(a.pair) - rank(b.pair) || a.fault.localeCompare(b.fault, 'en'),
  );
  const head = ['pair', 'fault', 'outcome', 'lost', 'dup', 'verify', 'run', 'secs', 'notes'];
  const body = sorted.map((r) => [
    r.pair,
    r.fault,
    r.outcome,
    String(r.lost),
    String(r.duplicated),
    String(r.verifyExit ?? '-'),
    String(r.runExit ?? 'hung'),
    r.seconds.toFixed(1),
    r.notes,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const failed = rows.filter((r) => r.outcome !== 'ok').length;
  return [
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
    '',
    `${rows.length} scenario(s), ${rows.length - failed} ok, ${failed} FAIL`,
  ].join('\n');
}

function rank(pair: string): number {
  const i = PAIR_ORDER.indexOf(pair);
  return i < 0 ? PAIR_ORDER.length : i;
}

function main(args: string[]): void {
  const file = resultsFile();
  if (args.includes('--clear')) {
    rmSync(file, { force: true });
    return;
  }
  const rows = readResults(file);
  if (!rows.length) {
    console.log(`No fault results in ${file}.`);
    return;
  }
  console.log(`\nFault scenarios (${file}):\n`);
  console.log(formatTable(rows));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathError } from '../util/fs-errors.js';
import { csvField } from './csv.js';
import type { PairResult } from './pair.js';

export interface BatchReport {
  startedAt: string;
  finishedAt: string;
  seconds: number;
  jobs: number;
  perHost: number;
  /** Highest number of our connections seen at once per server (host:port), as counted by the limiter. */
  peakPerHost: Record<string, number>;
  totals: { accounts: number; done: number; planned: number; copied: number; failed: number; bytes: number };
  messagesPerSecond: number;
  accounts: PairResult[];
}

export function buildReport(
  accounts: PairResult[],
  o: { startedAt: number; jobs: number; perHost: number; peak: Map<string, number> },
): BatchReport {
  const seconds = (Date.now() - o.startedAt) / 1000;
  const sum = (f: (r: PairResult) => number) => accounts.reduce((n, r) => n + f(r), 0);
  const copied = sum((r) => r.copied);
  return {
    startedAt: new Date(o.startedAt).toISOString(),
    finishedAt: new Date().toISOString(),
    seconds,
    jobs: o.jobs,
    perHost: o.perHost,
    peakPerHost: Object.fromEntries(o.peak),
    totals: {
      accounts: accounts.length,
      done: accounts.filter((r) => r.state === 'done').length,
      planned: sum((r) => r.planned),
      copied,
      failed: sum((r) => r.failed.length),
      bytes: sum((r) => r.bytes),
    },
    messagesPerSecond: seconds > 0 ? Math.round((copied / seconds) * 10) / 10 : 0,
    accounts,
  };
}

const CSV_COLUMNS = [
  'name',
  'source',
  'sink',
  'state',
  'exit',
  'planned',
  'copied',
  'already_present',
  'failed',
  'bytes',
  'seconds',
  'attempts',
  'verified',
  'reason',
] as const;

export function reportCsv(r: BatchReport): string {
  const rows = r.accounts.map((a) =>
    [
      a.name,
      a.source,
      a.sink,
      a.state,
      a.exitCode,
      a.planned,
      a.copied,
      a.alreadyPresent,
      a.failed.length,
      a.bytes,
      a.seconds.toFixed(1),
      a.attempts,
      a.verified === undefined ? '' : String(a.verified),
      a.message ?? '',
    ]
      .map(csvField)
      .join(','),
  );
  return `${[CSV_COLUMNS.join(','), ...rows].join('\r\n')}\r\n`;
}

function esc(s: string | number | undefined): string {
  return String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

const MB = 1024 * 1024;

/** One page, no external resources: it opens from a file, mailed or archived. */
export function reportHtml(r: BatchReport): string {
  const rows = r.accounts
    .map((a) => {
      const reasons = [
        a.message,
        ...a.failed.slice(0, 20).map((f) => `${f.folder} ${f.id}: ${f.code} ${f.reason}`),
      ]
        .filter(Boolean)
        .map((t) => `<div>${esc(t)}</div>`)
        .join('');
      return `<tr class="${esc(a.state)}"><td>${esc(a.name)}<div class="ep">${esc(a.source)} → ${esc(a.sink)}</div></td><td>${esc(a.state)}</td><td>${a.planned}</td><td>${a.copied}</td><td>${a.failed.length}</td><td>${(a.bytes / MB).toFixed(1)}</td><td>${a.seconds.toFixed(1)}</td><td>${reasons}</td></tr>`;
    })
    .join('\n');
  const t = r.totals;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mailferry batch report</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
td:nth-child(n+3):nth-child(-n+7){text-align:right}.ep{color:#777;font-size:12px}
tr.done td:nth-child(2){color:#080}tr.failed td:nth-child(2),tr.unreachable td:nth-child(2),tr.quota td:nth-child(2),tr.invalid td:nth-child(2),tr.error td:nth-child(2){color:#b00;font-weight:bold}
</style></head><body>
<h1>mailferry batch report</h1>
<p>${esc(r.startedAt)} – ${esc(r.finishedAt)} (${r.seconds.toFixed(1)} s), --jobs ${r.jobs}, --per-host ${r.perHost}</p>
<p><b>${t.done}/${t.accounts}</b> accounts done; ${t.copied}/${t.planned} messages copied, ${t.failed} failed, ${(t.bytes / MB).toFixed(1)} MB, ${r.messagesPerSecond} msg/s</p>
<table><thead><tr><th>account</th><th>state</th><th>planned</th><th>copied</th><th>failed</th><th>MB</th><th>s</th><th>reasons</th></tr></thead>
<tbody>
${rows}
</tbody></table></body></html>
`;
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Writes report.json, report.csv and report.html into `dir`; returns their paths. */
export function writeReports(dir: string, r: BatchReport): string[] {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const files = [
      [join(dir, 'report.json'), `${JSON.stringify(r, null, 2)}\n`],
      [join(dir, 'report.csv'), reportCsv(r)],
      [join(dir, 'report.html'), reportHtml(r)],
    ] as const;
    for (const [f, text] of files) writeAtomic(f, text);
    return files.map(([f]) => f);
  } catch (err) {
    throw pathError(err, `write the batch report in ${dir}`);
  }
}

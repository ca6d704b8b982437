import cliProgress from 'cli-progress';
import type { Counters } from '../run/progress.js';
import type { PairResult } from './pair.js';
import { isFinal } from './runner.js';

export interface BatchView {
  changed(r: PairResult, c: Counters | undefined): void;
  stop(): void;
}

const MB = 1024 * 1024;

interface Live {
  result: PairResult;
  counters: Counters | undefined;
}

/** Totals over every account: finished ones from their results, running ones from their counters. */
function totals(live: Map<string, Live>) {
  let done = 0;
  let copied = 0;
  let planned = 0;
  let bytes = 0;
  for (const { result, counters } of live.values()) {
    if (isFinal(result.state)) done++;
    const c = result.state === 'running' && counters ? counters : undefined;
    copied += c ? c.copied : result.copied;
    planned += c ? c.planned : result.planned;
    bytes += c ? c.bytes : result.bytes;
  }
  return { done, copied, planned, bytes };
}

/** A bar per running account plus one for the whole batch on a terminal; else a line per change and every 10 s. */
export function startBatchView(
  mode: 'auto' | 'bar' | 'log' | 'none',
  accounts: number,
  write: (line: string) => void,
): BatchView {
  const live = new Map<string, Live>();
  const resolved = mode === 'auto' ? (process.stderr.isTTY ? 'bar' : 'log') : mode;
  if (resolved === 'none') return { changed() {}, stop() {} };
  if (resolved === 'log') {
    const line = () => {
      const t = totals(live);
      return `batch: ${t.done}/${accounts} accounts finished, ${t.copied}/${t.planned} messages, ${(t.bytes / MB).toFixed(1)} MB`;
    };
    const timer = setInterval(() => write(line()), 10_000).unref();
    return {
      changed(r, c) {
        live.set(r.id, { result: r, counters: c });
        if (r.state === 'running') write(`batch: ${r.name}: started`);
        else if (isFinal(r.state) || r.state === 'quota-wait')
          write(
            `batch: ${r.name}: ${r.state}, ${r.copied}/${r.planned} copied${r.message ? `: ${r.message}` : ''}`,
          );
      },
      stop: () => clearInterval(timer),
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: ' {name} {bar} {value}/{total} {unit}',
      hideCursor: true,
      clearOnComplete: false,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const total = multi.create(accounts, 0, { name: 'batch'.padEnd(24), unit: 'accounts' });
  const bars = new Map<string, cliProgress.SingleBar>();
  const tick = () => {
    const t = totals(live);
    total.update(t.done, {
      unit: `accounts | ${t.copied}/${t.planned} msgs | ${(t.bytes / MB).toFixed(1)} MB`,
    });
    for (const [id, bar] of bars) {
      const c = live.get(id)?.counters;
      if (!c) continue;
      bar.setTotal(Math.max(1, c.planned));
      bar.update(c.copied + c.failed);
    }
  };
  const timer = setInterval(tick, 250).unref();
  return {
    changed(r, c) {
      live.set(r.id, { result: r, counters: c });
      const bar = bars.get(r.id);
      if (r.state === 'running' && !bar)
        bars.set(r.id, multi.create(1, 0, { name: r.name.slice(0, 24).padEnd(24), unit: 'msgs' }));
      else if (r.state !== 'running' && bar) {
        multi.remove(bar);
        bars.delete(r.id);
      }
    },
    stop() {
      clearInterval(timer);
      tick();
      multi.stop();
    },
  };
}

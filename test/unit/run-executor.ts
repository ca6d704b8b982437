import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultTransferOptions } from '../../src/config.js';
import { diffFolder, type Plan, planTotals } from '../../src/plan/diff.js';
import { Checkpoint } from '../../src/run/checkpoint.js';
import { Executor } from '../../src/run/executor.js';
import { Counters } from '../../src/run/progress.js';
import { silentLogger } from '../../src/util/log.js';
import type { MemorySink, MemorySource } from './fakes.js';

/** The plan for INBOX as the sink holds it now: what copy would hand the executor. */
export async function inboxPlan(source: MemorySource, sink: MemorySink): Promise<Plan> {
  const inv = await source.inventory({ name: 'INBOX', delimiter: '/' });
  const diff = diffFolder(inv, await sink.inventory('INBOX'), new Map(), { compareFlags: true });
  const folders = [{ source: inv.folder, target: inv.folder, create: false, skipped: [], ...diff }];
  return { version: 1, source: 's', sink: 'd', createdAt: '', folders, totals: planTotals(folders) };
}

export interface RunOptions {
  plan?: Plan;
  /** A state directory an earlier (crashed) run left; default a fresh one. */
  stateDir?: string;
  retries?: number;
  stallMs?: number;
}

/** Runs the executor between two in-memory endpoints with a real checkpoint. */
export async function runExecutor(source: MemorySource, sink: MemorySink, o: RunOptions = {}) {
  const plan = o.plan ?? (await inboxPlan(source, sink));
  const cp = Checkpoint.load(o.stateDir ?? mkdtempSync(join(tmpdir(), 'mf-ex-')), 's', 'd');
  cp.open('s', 'd');
  const ex = new Executor({
    plan,
    openSource: async () => source,
    openSink: async () => sink,
    sourceCaps: source.capabilities,
    sinkCaps: sink.capabilities,
    checkpoint: cp,
    options: defaultTransferOptions({ retries: o.retries ?? 3, connections: 2 }),
    log: silentLogger,
    counters: new Counters(),
    signal: new AbortController().signal,
    ...(o.stallMs !== undefined && { stallMs: o.stallMs }),
  });
  const result = await ex.run();
  cp.close();
  return { result, cp };
}

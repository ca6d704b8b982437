import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliResult, collect, spawnCli } from './cli.js';

/** A temp dir with an mbox sink and a state dir for one hostile run. */
export function hostileDirs(name: string): { dir: string; sink: string; state: string } {
  const dir = mkdtempSync(join(tmpdir(), `mf-${name}-`));
  return { dir, sink: join(dir, 'out'), state: join(dir, 'state') };
}

export interface HostileResult extends CliResult {
  report?: {
    copied: number;
    failed: Array<{ id: string; code: string; reason: string; folder: string }>;
    peakRssMb: number;
    exitCode: number;
  };
  /** Last mailferry line on stderr. */
  lastError?: string;
  /** The CLI's peak RSS (VmHWM) in MiB, read from /proc while it ran: also for runs with no report. */
  peakMb: number;
}

/** VmHWM of a live process, in MiB; 0 once it is gone. */
function highWater(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

/** Start the built CLI, sampling its peak RSS until it exits; `done` settles at its exit. */
export function spawnMeasured(
  args: string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; done: Promise<CliResult & { peakMb: number }> } {
  // MAILFERRY_TEST_BUNDLE=/path/to/old/dist/mailferry.mjs runs the same case on another build
  // (how the figures before a fix were taken).
  const other = process.env.MAILFERRY_TEST_BUNDLE;
  const child = other
    ? spawn(process.execPath, ['--max-semi-space-size=1', other, ...args], {
        env: { ...process.env, NO_COLOR: '1', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawnCli(args, env, true);
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, highWater(child.pid));
  }, 25);
  const done = collect(child).then((res) => {
    clearInterval(timer);
    return { ...res, peakMb: peak };
  });
  return { child, done };
}

export function runMeasured(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult & { peakMb: number }> {
  return spawnMeasured(args, env).done;
}

/** The built CLI (memory figures are the bundle's), `copy --json` into `sink`. */
export async function copyFrom(
  source: string,
  sink: string,
  state: string,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = { MAILFERRY_SOURCE_PASSWORD: 'secret' },
): Promise<HostileResult> {
  const res = await runMeasured(
    ['copy', source, sink, '--state-dir', state, '--progress', 'none', '--json', ...extra],
    env,
  );
  const out: HostileResult = { ...res };
  try {
    out.report = JSON.parse(res.stdout);
  } catch {
    // no report: a usage error or a crash
  }
  out.lastError = res.stderr
    .split('\n')
    .filter((l) => l.startsWith('mailferry:'))
    .at(-1);
  return out;
}

/** SHA-256 of every message body in an mbox sink file, From lines and quoting stripped. */
export function mboxBodies(file: string): string[] {
  const text = readFileSync(file, 'latin1');
  return text
    .split(/^From .*\n/m)
    .filter((m) => m.length)
    .map((m) => m.replace(/\n$/, '').replace(/^>(>*From )/gm, '$1'));
}

export function sha(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Bytes under a directory (what a run wrote). */
export function bytesUnder(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size;
  }
  return n;
}

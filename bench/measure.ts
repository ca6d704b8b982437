import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunSpec {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the tree after this long: a hung tool must not stall the whole bench. */
  timeoutMs?: number;
}

export interface Measured {
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  /** Peak resident memory of the tool's process tree, MB. */
  peakRssMb: number;
  /**
   * User + system CPU seconds of the tool and every child it waited for (GNU time reports the
   * getrusage of its child, which covers the reaped grandchildren). NaN without GNU time.
   */
  cpuSeconds: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const GNU_TIME = '/usr/bin/time';
const PAGE_KB = 4;

/** Direct children of pid from /proc/<pid>/task/<tid>/children: no scan of every process. */
function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return []; // exited meanwhile
  }
  return tasks.flatMap((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1')
        .split(' ')
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  });
}

function descendants(root: number): number[] {
  const out: number[] = [];
  const todo = childrenOf(root);
  while (todo.length) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...childrenOf(pid));
  }
  return out;
}

function rssKb(pid: number): number {
  try {
    const statm = readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ');
    return Number(statm[1]) * PAGE_KB;
  } catch {
    return 0;
  }
}

/**
 * Samples the summed RSS of the tree under root (root itself excluded: it is GNU time).
 * Sampling can miss a short spike; GNU time's %M (largest single process's peak) covers that.
 */
function treeSampler(root: number): { stop: () => number } {
  let peak = 0;
  const sample = () => {
    const sum = descendants(root).reduce((acc, pid) => acc + rssKb(pid), 0);
    if (sum > peak) peak = sum;
  };
  const timer = setInterval(sample, 50);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

/** Runs one command under GNU time, returns wall time, exit and peak RSS of its process tree. */
export function measure(spec: RunSpec): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'mfbench-time-'));
  const timeFile = join(dir, 'time.out');
  const useTime = existsSync(GNU_TIME);
  const [cmd, args] = useTime
    ? [GNU_TIME, ['-o', timeFile, '-f', '%M %U %S', spec.cmd, ...spec.args]]
    : [spec.cmd, spec.args];
  const started = process.hrtime.bigint();
  const child = spawn(cmd, args, {
    env: spec.env ?? process.env,
    cwd: spec.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const sampler = treeSampler(child.pid ?? 0);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let timedOut = false;
  const timer = setTimeout(
    () => {
      timedOut = true;
      for (const pid of descendants(child.pid ?? 0)) killQuietly(pid);
      child.kill('SIGKILL');
    },
    spec.timeoutMs ?? 30 * 60_000,
  );
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      sampler.stop();
      rmSync(dir, { recursive: true, force: true });
      reject(err);
    });
    child.once('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      clearTimeout(timer);
      const sampledKb = sampler.stop();
      const time = useTime ? readTime(timeFile) : { maxRssKb: 0, cpuSeconds: Number.NaN };
      rmSync(dir, { recursive: true, force: true });
      const peakRssMb = Math.max(sampledKb, time.maxRssKb) / 1024;
      resolve({ code, signal, seconds, peakRssMb, cpuSeconds: time.cpuSeconds, stdout, stderr, timedOut });
    });
  });
}

/** GNU time's "%M %U %S" line: max RSS of the largest process (KB), user and system seconds. */
export function parseTime(text: string): { maxRssKb: number; cpuSeconds: number } {
  // GNU time may print "Command exited with non-zero status N" before the format line.
  const lines = text.trim().split('\n');
  const [rss, user, sys] = (lines[lines.length - 1] ?? '').trim().split(/\s+/).map(Number);
  const cpu = (user ?? Number.NaN) + (sys ?? Number.NaN);
  return { maxRssKb: rss || 0, cpuSeconds: Number.isFinite(cpu) ? cpu : Number.NaN };
}

function readTime(file: string): { maxRssKb: number; cpuSeconds: number } {
  try {
    return parseTime(readFileSync(file, 'utf8'));
  } catch {
    return { maxRssKb: 0, cpuSeconds: Number.NaN };
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function median(values: number[]): number {
  if (!values.length) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

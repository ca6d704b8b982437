import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export interface MachineInfo {
  date: string;
  nproc: number;
  memoryGb: number;
  cpuModel: string;
  kernel: string;
  node: string;
  dovecot: string;
  peers: Record<string, string>;
}

function firstLine(cmd: string, args: string[]): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.trim().split('\n')[0] ?? '';
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return (e.stdout || e.stderr || 'unknown').trim().split('\n')[0] ?? 'unknown';
  }
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    // not Linux: fall through
  }
  return cpus()[0]?.model ?? 'unknown';
}

export function machineInfo(): MachineInfo {
  return {
    date: new Date().toISOString(),
    nproc: Number(firstLine('nproc', [])) || cpus().length,
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    cpuModel: cpuModel(),
    kernel: firstLine('uname', ['-r']),
    node: process.version,
    dovecot: firstLine('/usr/sbin/dovecot', ['--version']),
    peers: {
      mbsync: firstLine('mbsync', ['--version']),
      mpop: firstLine('mpop', ['--version']),
      getmail: firstLine('getmail', ['--version']),
    },
  };
}

/** Debian packages the peers (and GNU time) come from, keyed by the binary they install. */
const PACKAGES: Record<string, string> = {
  '/usr/bin/mbsync': 'isync',
  '/usr/bin/mpop': 'mpop',
  '/usr/bin/getmail': 'getmail6',
  '/usr/bin/time': 'time',
};

/** Installs missing peers with apt-get (the bench may run on a fresh machine as root). */
export function ensurePeers(log: (line: string) => void): void {
  const missing = Object.entries(PACKAGES)
    .filter(([bin]) => !existsSync(bin))
    .map(([, pkg]) => pkg);
  if (!missing.length) return;
  if (process.getuid?.() !== 0) {
    log(`bench: missing ${missing.join(' ')}; run as root or apt-get install them; those rows will fail`);
    return;
  }
  log(`bench: apt-get install -y ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      stdio: 'inherit',
      env,
    });
  } catch (err) {
    log(`bench: apt-get failed (${(err as Error).message.split('\n')[0]}); the affected rows will fail`);
  }
}

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePorts } from './system.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** A private Redis for the batch tests: loopback only, nothing saved, its own temp dir. */
export interface RedisInfo {
  url: string;
  port: number;
  dir: string;
  pid: number;
}

const running = new Map<number, ChildProcess>();

export function redisAvailable(): boolean {
  return existsSync(REDIS_SERVER);
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`redis-server did not listen on ${port}`);
}

/** Starts redis-server on a free port (or the given one, to restart it in place). */
export async function startRedis(port?: number, dir?: string): Promise<RedisInfo> {
  const p = port ?? (await freePorts(1))[0]!;
  const d = dir ?? mkdtempSync(join(tmpdir(), 'mf-redis-'));
  const args = ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', d];
  const child = spawn(REDIS_SERVER, args, { stdio: 'ignore', detached: false });
  await waitForPort(p, child);
  running.set(child.pid!, child);
  return { url: `redis://127.0.0.1:${p}`, port: p, dir: d, pid: child.pid! };
}

/** Stops it (SIGKILL: a crash, for the restart test) and waits for the port to close. */
export async function stopRedis(info: RedisInfo, opts: { keepDir?: boolean } = {}): Promise<void> {
  const child = running.get(info.pid);
  if (child && child.exitCode === null) {
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  }
  running.delete(info.pid);
  if (!opts.keepDir) rmSync(info.dir, { recursive: true, force: true });
}

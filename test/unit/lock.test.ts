import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archiveLockFile, lockTransfer, releaseAll } from '../../src/commands/locks.js';
import { UsageError } from '../../src/errors.js';
import { acquireLock } from '../../src/run/lock.js';
import type { Logger } from '../../src/util/log.js';

function recorder(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, info() {}, error() {}, warn: (m) => warnings.push(m) };
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

const dir = () => mkdtempSync(join(tmpdir(), 'mf-lock-'));

describe('lock files', () => {
  it('a second holder is refused with one line naming the first, and a release frees it', () => {
    const file = join(dir(), 'lock');
    const log = recorder();
    const first = acquireLock(file, 'this pair', log);
    const owner = JSON.parse(readFileSync(file, 'utf8'));
    expect(owner).toMatchObject({ pid: process.pid, host: hostname() });
    let err: unknown;
    try {
      acquireLock(file, 'this pair', log);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).toBe(
      `this pair is in use by mailferry pid ${process.pid} on ${hostname()} since ${owner.started}`,
    );
    first.release();
    expect(existsSync(file)).toBe(false);
    acquireLock(file, 'this pair', log).release();
    expect(log.warnings).toEqual([]);
  });

  it('takes over a lock whose process is gone, from another boot, or damaged, with a note', () => {
    const d = dir();
    const stale = [
      { pid: deadPid(), host: hostname(), started: '2026-01-01T00:00:00.000Z' },
      { pid: process.pid, host: hostname(), started: 'x', boot: 'another-boot' },
      { pid: process.pid, host: hostname(), started: 'x', ticks: '1' },
    ];
    for (const [i, owner] of stale.entries()) {
      const file = join(d, `lock${i}`);
      writeFileSync(file, JSON.stringify(owner));
      const log = recorder();
      const l = acquireLock(file, 'this pair', log);
      expect(JSON.parse(readFileSync(file, 'utf8')).started).not.toBe(owner.started);
      expect(log.warnings).toHaveLength(1);
      expect(log.warnings[0]).toContain(`took over a stale lock on this pair: mailferry pid ${owner.pid}`);
      l.release();
    }
    writeFileSync(join(d, 'torn'), '{"pid":');
    const log = recorder();
    acquireLock(join(d, 'torn'), 'x', log).release();
    expect(log.warnings[0]).toContain('an unknown process is gone');
    // No temporary or break files are left behind.
    expect(readdirSync(d)).toEqual([]);
  });

  it('trusts a lock held on another host', () => {
    const file = join(dir(), 'lock');
    writeFileSync(file, JSON.stringify({ pid: deadPid(), host: 'elsewhere.example', started: 's' }));
    expect(() => acquireLock(file, 'the archive zip:a.zip', recorder())).toThrow(
      /^the archive zip:a\.zip is in use by mailferry pid \d+ on elsewhere\.example since s$/,
    );
  });

  it('locks the pair and each archive, and releases what it took when one is held', () => {
    const d = dir();
    const mbox = join(d, 'out');
    const zip = join(d, 'a.zip');
    expect(archiveLockFile({ kind: 'zip', path: zip }, 'sink')).toEqual({ file: `${zip}.mailferry.lock` });
    expect(archiveLockFile({ kind: 'mbox', path: `${mbox}/` }, 'sink')).toEqual({
      file: join(mbox, '.mailferry.lock'),
      created: mbox,
    });
    expect(archiveLockFile({ kind: 'mbox', path: join(d, 'missing') }, 'source')).toBeUndefined();
    const sides = [
      { side: 'source' as const, endpoint: { kind: 'zip' as const, path: zip }, name: `zip:${zip}` },
      { side: 'sink' as const, endpoint: { kind: 'mbox' as const, path: mbox }, name: `mbox:${mbox}` },
    ];
    const held = acquireLock(join(mbox, '.mailferry.lock'), 'x', recorder());
    expect(() => lockTransfer(join(d, 'state', 'pair'), sides, recorder())).toThrow(
      `the archive mbox:${mbox} is in use by mailferry pid ${process.pid}`,
    );
    expect(existsSync(join(d, 'state', 'pair', 'lock'))).toBe(false);
    expect(existsSync(`${zip}.mailferry.lock`)).toBe(false);
    held.release();
    const locks = lockTransfer(join(d, 'state', 'pair'), sides, recorder());
    expect(locks.map((l) => l.file)).toEqual([
      join(d, 'state', 'pair', 'lock'),
      `${zip}.mailferry.lock`,
      join(mbox, '.mailferry.lock'),
    ]);
    releaseAll(locks);
    expect(locks.every((l) => !existsSync(l.file))).toBe(true);
  });
});

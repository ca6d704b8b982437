import { mkdirSync, type Stats, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../errors.js';

/**
 * Local paths mailferry reads or writes must be regular files and directories. A FIFO or a
 * device blocks an open() forever or never ends (/dev/zero), and a blocked open sits in a
 * thread nothing can cancel; so they are refused up front, by stat, which never blocks.
 */
export type PathKind = 'file' | 'dir' | 'file-or-dir';

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return st.isDirectory() ? 'a directory' : st.isFile() ? 'a file' : 'not a regular file';
}

/** Refuse `path` (if it exists) when it is not the kind named; a missing path is fine. */
export function assertPathKind(path: string, role: string, want: PathKind): void {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  const ok = (want !== 'dir' && st.isFile()) || (want !== 'file' && st.isDirectory());
  if (ok) return;
  const wanted =
    want === 'file' ? 'a regular file' : want === 'dir' ? 'a directory' : 'a regular file or directory';
  throw new UsageError(`${role} ${path} is ${kindOf(st)}, not ${wanted}`, {
    hint: `name ${wanted}`,
  });
}

/** The directories from the root down to `path`. */
function chain(path: string): string[] {
  const out: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    out.unshift(p);
    if (dirname(p) === p) return out;
  }
}

/** An errno-style error, so the caller's pathError() names the path's role (state dir, sink). */
function cannotCreate(path: string, err: NodeJS.ErrnoException | 'ENOTDIR'): NodeJS.ErrnoException {
  const code = typeof err === 'string' ? err : (err.code ?? 'EIO');
  return Object.assign(new Error(`cannot create directory ${path}: ${code}`), { code, path });
}

/**
 * `mkdir -p`, one mkdir per path component, so it always ends: Node's recursive mkdir spins
 * at full CPU under /proc, where mkdir keeps answering ENOENT.
 */
export function mkdirpSync(path: string, mode = 0o777): void {
  for (const p of chain(path)) {
    let st: Stats | undefined;
    try {
      st = statSync(p);
    } catch {
      // missing, or not searchable: mkdir below says which
    }
    if (st?.isDirectory()) continue;
    if (st) throw cannotCreate(p, 'ENOTDIR');
    try {
      mkdirSync(p, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw cannotCreate(p, err as NodeJS.ErrnoException);
    }
  }
}

export async function mkdirp(path: string, mode = 0o777): Promise<void> {
  for (const p of chain(path)) {
    const st = await stat(p).catch(() => undefined);
    if (st?.isDirectory()) continue;
    if (st) throw cannotCreate(p, 'ENOTDIR');
    await mkdir(p, { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw cannotCreate(p, err);
    });
  }
}

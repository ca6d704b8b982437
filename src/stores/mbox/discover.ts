import { type Dirent, existsSync } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { UsageError } from '../../errors.js';
import { MBOX_EXT, readSidecar, SIDECAR_SUFFIX, sidecarPathFor } from '../../formats/mbox/sidecar.js';
import type { FolderInfo } from '../../types.js';

/**
 * Finds the folders under an mbox source path: mailferry's own layout (`A.mbox` with children
 * in `A/`), plain `*.mbox` trees, Thunderbird's extensionless files with `A.sbd/` children and
 * Apple Mail's `A.mbox/mbox`. A symlink whose target is outside the root is never read: it
 * becomes a folder with no messages and one skipped entry, so the run reports it.
 */

export interface FoundFolder {
  info: FolderInfo;
  /** Absolute path of the mbox file; undefined for an unsafe entry. */
  path?: string;
  /** Sidecar beside it, when mailferry wrote the file. */
  sidecar?: string;
  /** Why the entry is refused (a symlink leaving the root). */
  unsafe?: string;
}

const NOT_MBOX = /\.(msf|json|jsonl|dat|html?|sqlite|db|lock)$/i;

/** Every folder under `root` (a directory or one mbox file), names unique and sorted. */
export async function discoverFolders(root: string): Promise<FoundFolder[]> {
  const info = await stat(root).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read mbox source ${root}: ${err.code ?? err.message}`, {
      hint: 'check the path: a directory of mbox files or one .mbox file',
    });
  });
  const found: FoundFolder[] = [];
  if (info.isDirectory()) {
    const rootReal = await realpath(root);
    await walk({ rootReal, found, visited: new Set([rootReal]) }, root, []);
  } else {
    const name = basename(root).replace(/\.mbox$/i, '') || 'INBOX';
    found.push(await folderFor(root, [name]));
  }
  return uniqueNames(found);
}

interface Walk {
  rootReal: string;
  found: FoundFolder[];
  visited: Set<string>;
}

async function walk(w: Walk, dir: string, parts: string[]): Promise<void> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    const full = join(dir, entry.name);
    const kind = await entryKind(w, full, entry);
    if (kind === 'outside') {
      w.found.push({
        info: {
          name: [...parts, entry.name.replace(/\.mbox$/i, '')].join('/'),
          delimiter: '/',
          selectable: true,
        },
        unsafe: `${relative(w.rootReal, full) || entry.name} is a link to outside the mbox directory`,
      });
    } else if (kind === 'dir') {
      const real = await realpath(full);
      if (w.visited.has(real)) continue;
      w.visited.add(real);
      await walkDir(w, full, parts, entry.name);
    } else if (kind === 'file' && (await isMboxFile(full, entry.name))) {
      w.found.push(await folderFor(full, [...parts, entry.name.replace(/\.mbox$/i, '')]));
    }
  }
}

async function walkDir(w: Walk, full: string, parts: string[], name: string): Promise<void> {
  if (/\.sbd$/i.test(name)) return walk(w, full, [...parts, name.slice(0, -4)]);
  // Apple Mail exports a folder as a directory `A.mbox` holding a file `mbox`.
  if (/\.mbox$/i.test(name) && existsSync(join(full, 'mbox'))) {
    const base = name.slice(0, -MBOX_EXT.length);
    w.found.push(await folderFor(join(full, 'mbox'), [...parts, base]));
    return walk(w, full, [...parts, base]);
  }
  return walk(w, full, [...parts, name]);
}

type Kind = 'file' | 'dir' | 'outside' | 'other';

async function entryKind(w: Walk, full: string, entry: Dirent): Promise<Kind> {
  if (entry.isSymbolicLink()) {
    const real = await realpath(full).catch(() => undefined);
    if (!real) return 'other';
    if (real !== w.rootReal && !real.startsWith(w.rootReal + sep)) return 'outside';
    const st = await stat(real);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  }
  return entry.isDirectory() ? 'dir' : entry.isFile() ? 'file' : 'other';
}

/** `.mbox` files always; other files when they start like an mbox (Thunderbird's `Inbox`). */
async function isMboxFile(path: string, name: string): Promise<boolean> {
  if (name.endsWith(SIDECAR_SUFFIX) || NOT_MBOX.test(name) || name === 'mbox') return false;
  if (/\.mbox$/i.test(name)) return true;
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(5);
    const { bytesRead } = await fh.read(head, 0, 5, 0);
    if (bytesRead === 0) return existsSync(`${path}.msf`);
    return head.toString('latin1') === 'From ';
  } finally {
    await fh.close();
  }
}

async function folderFor(path: string, parts: string[]): Promise<FoundFolder> {
  const sidecar = sidecarPathFor(path);
  if (existsSync(sidecar)) {
    const { header } = await readSidecar(sidecar);
    if (header) {
      const info: FolderInfo = { name: header.name, delimiter: header.delimiter, selectable: true };
      if (header.specialUse) info.specialUse = header.specialUse;
      if (header.subscribed !== undefined) info.subscribed = header.subscribed;
      return { info, path, sidecar };
    }
  }
  return { info: { name: parts.join('/'), delimiter: '/', selectable: true }, path };
}

/** Two files naming the same folder (an `Inbox` and an `Inbox.mbox`): the later one gets a suffix. */
function uniqueNames(found: FoundFolder[]): FoundFolder[] {
  const seen = new Set<string>();
  for (const f of found) {
    let name = f.info.name;
    for (let n = 2; seen.has(name); n++) name = `${f.info.name} (${n})`;
    f.info.name = name;
    seen.add(name);
  }
  return found.sort((a, b) => (a.info.name < b.info.name ? -1 : a.info.name > b.info.name ? 1 : 0));
}

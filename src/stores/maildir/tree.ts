import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FolderInfo } from '../../types.js';
import { replaceFile } from './fsync.js';
import { folderName, formatSubscriptions, INBOX, isInbox, parseSubscriptions } from './names.js';

export const SUBSCRIPTIONS_FILE = 'subscriptions';

/** A Maildir++ root: INBOX in cur/new/tmp, every `.A.B` directory with a cur/ a folder. */
export async function listTree(root: string): Promise<FolderInfo[]> {
  const subscribed = await readSubscriptions(root);
  const out: FolderInfo[] = [];
  const info = (name: string): FolderInfo => ({
    name,
    delimiter: '/',
    selectable: true,
    subscribed: subscribed.has(name) || isInbox(name),
  });
  if (await isDir(join(root, 'cur'))) out.push(info(INBOX));
  const entries = await readdir(root, { withFileTypes: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const name = folderName(e.name);
    if (!name || isInbox(name)) continue;
    if (!(e.isDirectory() || e.isSymbolicLink()) || !(await isDir(join(root, e.name, 'cur')))) continue;
    out.push(info(name));
  }
  return out;
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

export async function readSubscriptions(root: string): Promise<Set<string>> {
  const text = await readFile(join(root, SUBSCRIPTIONS_FILE), 'utf8').catch(() => '');
  return parseSubscriptions(text);
}

export async function writeSubscriptions(root: string, names: Set<string>): Promise<void> {
  await replaceFile(join(root, SUBSCRIPTIONS_FILE), root, formatSubscriptions(names));
}

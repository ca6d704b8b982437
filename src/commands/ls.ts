import type { FolderStat, Source } from '../types.js';
import { type ConnectSettings, openSource, prepareSide } from './common.js';

/** `mailferry ls`: folders with message counts and total sizes. */
export async function ls(endpointText: string, settings: ConnectSettings = {}): Promise<FolderStat[]> {
  const side = prepareSide('source', endpointText, settings, 8 * 1024 * 1024);
  const source = await openSource(side);
  try {
    return source.stat ? await source.stat() : await statByInventory(source);
  } finally {
    await source.close();
  }
}

async function statByInventory(source: Source): Promise<FolderStat[]> {
  const out: FolderStat[] = [];
  for (const folder of await source.listFolders()) {
    if (folder.selectable === false) continue;
    const inv = await source.inventory(folder);
    out.push({ folder, messages: inv.messages.length, bytes: inv.messages.reduce((s, m) => s + m.size, 0) });
  }
  return out;
}

export function formatLs(stats: FolderStat[]): string {
  const width = Math.max(6, ...stats.map((s) => s.folder.name.length));
  const lines = [`${'folder'.padEnd(width)}  ${'messages'.padStart(9)}  ${'bytes'.padStart(12)}`];
  let n = 0;
  let b = 0;
  for (const s of stats) {
    const use = s.folder.specialUse ? `  ${s.folder.specialUse}` : '';
    lines.push(
      `${s.folder.name.padEnd(width)}  ${String(s.messages).padStart(9)}  ${String(s.bytes).padStart(12)}${use}`,
    );
    n += s.messages;
    b += s.bytes;
  }
  lines.push(`${'total'.padEnd(width)}  ${String(n).padStart(9)}  ${String(b).padStart(12)}`);
  return lines.join('\n');
}

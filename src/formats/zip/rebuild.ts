import { open, rename, stat } from 'node:fs/promises';
import { UsageError } from '../../errors.js';
import type { JournalRecord } from './journal.js';
import { type EntryMeta, MANIFEST_NAME, readManifest } from './manifest.js';
import { ZipReader } from './reader.js';
import { journalPathOf } from './writer.js';

/**
 * Recreate a lost journal from a finished mailferry archive: its central directory gives
 * every entry's offset, CRC and sizes, its manifest the per-message metadata. The archive
 * stays byte-identical; the next run appends after the last message as usual.
 */
export async function rebuildJournal(archivePath: string, sync: boolean): Promise<void> {
  const reader = await ZipReader.open(archivePath);
  let records: JournalRecord[];
  try {
    records = await journalFromArchive(reader, (await stat(archivePath)).size);
  } finally {
    await reader.close();
  }
  const target = journalPathOf(archivePath);
  const tmp = `${target}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, target);
}

async function journalFromArchive(reader: ZipReader, size: number): Promise<JournalRecord[]> {
  const manifestEntry = reader.entries.findLast((e) => e.name === MANIFEST_NAME);
  if (!manifestEntry) {
    throw new UsageError(
      `${reader.path} has no journal and is not a mailferry archive (no ${MANIFEST_NAME})`,
      {
        hint: 'write to a new archive file',
      },
    );
  }
  const manifest = await readManifest(await reader.openEntry(manifestEntry));
  const entries = reader.entries.filter((e) => e !== manifestEntry).sort((a, b) => a.offset - b.offset);
  if (entries.some((e) => e.offset > manifestEntry.offset)) {
    throw new UsageError(`${reader.path}: entries follow the manifest, cannot append safely`, {
      hint: 'write to a new archive file',
    });
  }
  const records: JournalRecord[] = [
    { t: 'head', v: 1, created: manifest.header?.created ?? new Date().toISOString(), start: 0 },
  ];
  for (const f of manifest.folders) records.push({ ...f, t: 'note', kind: 'folder' });
  for (const [i, e] of entries.entries()) {
    const m = manifest.messages.get(e.name);
    const meta: EntryMeta | undefined = m && {
      folder: m.folder,
      flags: m.flags,
      internalDate: m.internalDate,
      sha256: m.sha256,
      messageId: m.messageId,
      sourceId: m.sourceId,
    };
    records.push({
      t: 'entry',
      name: e.name,
      offset: e.offset,
      end: entries[i + 1]?.offset ?? manifestEntry.offset,
      method: e.method,
      crc: e.crc,
      csize: e.compressedSize,
      size: e.size,
      mtime: e.mtime.getTime(),
      ...(meta ? { meta: { ...meta } } : {}),
    });
  }
  records.push({ t: 'finish', dataEnd: manifestEntry.offset, size, entries: reader.entries.length });
  return records;
}

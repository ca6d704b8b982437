import { type FileHandle, open, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FolderError, UsageError } from '../../errors.js';
import {
  recordLine,
  SIDECAR_FORMAT,
  type SidecarFolder,
  type SidecarMessage,
  type SidecarState,
} from '../../formats/mbox/sidecar.js';
import { pathError } from '../../util/fs-errors.js';
import type { Logger } from '../../util/log.js';
import { mkdirp } from '../../util/path-kinds.js';

const GATHER_BYTES = 256 * 1024;

/** One folder's mbox file and sidecar, with what is written versus what is durable. */
export class MboxFolder {
  mbox: FileHandle | undefined;
  sidecar: FileHandle | undefined;
  /** Where the next message goes (written or gathered, maybe not yet synced). */
  end: number;
  /** The file holds everything before this; `pending` holds what comes after, up to `end`. */
  private written: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private committedEnd: number;
  private sidecarEnd: number;
  private committedSidecarEnd: number;

  constructor(
    readonly mboxPath: string,
    readonly sidecarPath: string,
    public header: SidecarFolder,
    readonly messages: SidecarMessage[],
    end: number,
    sidecarEnd: number,
    /** The sidecar's open intent is at `end`: bytes we write there can be cut after a kill. */
    private intentOpen = true,
  ) {
    this.end = this.written = this.committedEnd = end;
    this.sidecarEnd = this.committedSidecarEnd = sidecarEnd;
  }

  async openHandles(): Promise<void> {
    this.mbox ??= await open(this.mboxPath, 'r+');
    this.sidecar ??= await open(this.sidecarPath, 'r+');
  }

  /**
   * Append bytes at `end`. Messages gather into writes of about 256 KiB instead of one write
   * (a thread-pool round trip) each; a commit flushes before it syncs.
   */
  async write(buf: Buffer): Promise<void> {
    if (!buf.length) return;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    this.end += buf.length;
    if (this.pendingBytes >= GATHER_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (!this.pendingBytes) return;
    await this.openHandles();
    if (!this.intentOpen) await this.recordIntent();
    // One writev of the gathered pieces: no copy into one buffer first.
    const bufs = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    await writevFully(this.mbox!, bufs, this.written);
    this.written += bytes;
  }

  async appendSidecar(text: string): Promise<void> {
    await this.openHandles();
    const buf = Buffer.from(text, 'utf8');
    await writeFully(this.sidecar!, buf, this.sidecarEnd);
    this.sidecarEnd += buf.length;
  }

  /**
   * After a seal, journal durably that our writes start at the committed end, before the first
   * byte goes out: the next open may then cut what a kill left there, and only that (never mail
   * someone appended after a clean close). Unsealed, the last record already says so.
   */
  private async recordIntent(): Promise<void> {
    await this.appendSidecar(recordLine({ type: 'intent', offset: this.committedEnd }));
    await this.sidecar!.datasync();
    this.committedSidecarEnd = this.sidecarEnd;
    this.intentOpen = true;
  }

  committed(): void {
    this.committedEnd = this.end;
    this.committedSidecarEnd = this.sidecarEnd;
  }

  /** Drop everything written since the last commit (a failed sync). */
  async rollback(): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    this.end = this.written = this.committedEnd;
    this.sidecarEnd = this.committedSidecarEnd;
    await this.mbox?.truncate(this.end);
    await this.sidecar?.truncate(this.sidecarEnd);
  }

  /** Undo a message whose body failed half way (nothing after it has been written). */
  async discardFrom(offset: number): Promise<void> {
    this.end = offset;
    if (offset >= this.written) {
      // Still only gathered: keep what came before the message.
      let keep = offset - this.written;
      const kept: Buffer[] = [];
      for (const b of this.pending) {
        if (keep <= 0) break;
        kept.push(b.length <= keep ? b : b.subarray(0, keep));
        keep -= kept[kept.length - 1]!.length;
      }
      this.pending = kept;
      this.pendingBytes = offset - this.written;
      return;
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.written = offset;
    await this.mbox?.truncate(offset);
  }

  /** A clean close seals the file: nothing after its end is ours any more. */
  async close(): Promise<void> {
    if (this.intentOpen) {
      await this.openHandles();
      await this.appendSidecar(recordLine({ type: 'sealed', end: this.committedEnd }));
      await this.sidecar!.datasync();
      this.intentOpen = false;
    }
    await this.mbox?.close();
    await this.sidecar?.close();
    this.mbox = this.sidecar = undefined;
  }
}

/**
 * After a kill: drop a torn sidecar line and cut the mbox back to the last journaled message,
 * but only bytes our own write left: the sidecar must hold an open intent at exactly that end
 * (or a torn record, which only a run dying mid-journal leaves), and the cut must start at a
 * From line. Anything else (a mail client appended, the sidecar lies) is refused, not cut.
 */
export async function recoverFolder(
  mboxPath: string,
  sidecarPath: string,
  state: SidecarState,
  log: Logger,
): Promise<MboxFolder> {
  const header = state.header!;
  const mboxSize = (await stat(mboxPath).catch(() => undefined))?.size;
  if (mboxSize === undefined && state.end === 0) {
    await (await open(mboxPath, 'a')).close();
  } else if (mboxSize === undefined || mboxSize < state.end) {
    throw new UsageError(`${mboxPath} is shorter than its sidecar ${sidecarPath} records`, {
      hint: 'the file was changed outside mailferry; restore it or move the folder aside',
    });
  }
  await checkRecordedEnds(mboxPath, sidecarPath, state, mboxSize ?? 0);
  const sidecarSize = (await stat(sidecarPath)).size;
  if (sidecarSize > state.validBytes) {
    log.warn(`${sidecarPath}: dropped an unfinished record left by an interrupted run`);
    await truncateDurably(sidecarPath, state.validBytes);
  }
  if (mboxSize !== undefined && mboxSize > state.end) {
    log.warn(
      `${mboxPath}: removed ${mboxSize - state.end} bytes of a message an interrupted run left unfinished`,
    );
    await truncateDurably(mboxPath, state.end);
  }
  const intentOpen = state.openIntent === state.end;
  return new MboxFolder(
    mboxPath,
    sidecarPath,
    header,
    state.messages,
    state.end,
    state.validBytes,
    intentOpen,
  );
}

/** The last message starts with a From line where recorded; bytes past the end are our torn write. */
async function checkRecordedEnds(
  mboxPath: string,
  sidecarPath: string,
  state: SidecarState,
  size: number,
): Promise<void> {
  const last = state.messages.at(-1);
  if (last && !(await startsWithFrom(mboxPath, last.offset))) {
    throw new UsageError(
      `${mboxPath} does not match its sidecar ${sidecarPath}: no message at offset ${last.offset}`,
      {
        hint: 'the file was changed outside mailferry; restore it or move the folder aside',
      },
    );
  }
  if (size <= state.end) return;
  const ours = state.openIntent === state.end || state.torn;
  if (!ours || !(await startsWithFrom(mboxPath, state.end))) {
    throw new UsageError(
      `${mboxPath} has ${size - state.end} bytes after the last message its sidecar records, which mailferry did not write`,
      { hint: 'move that mail into another file, or move the folder aside, then run again' },
    );
  }
}

async function startsWithFrom(path: string, offset: number): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(5);
    const { bytesRead } = await fh.read(buf, 0, 5, offset);
    return bytesRead === 5 && buf.toString('latin1') === 'From ';
  } finally {
    await fh.close();
  }
}

/** Sidecar (with its folder line) first, then the empty mbox, then the directory entry. */
export async function createFolder(
  mboxPath: string,
  sidecarPath: string,
  info: Omit<SidecarFolder, 'type' | 'format' | 'version'>,
): Promise<MboxFolder> {
  const dir = dirname(mboxPath);
  await mkdirp(dir).catch((err: unknown) => {
    throw pathError(err, `create the folder directory ${dir}`);
  });
  if (await stat(mboxPath).catch(() => undefined)) {
    throw new FolderError('EFOLDER', `${mboxPath} already exists and was not written by mailferry`, {
      hint: 'move it away, or use an empty directory as the mbox sink',
    });
  }
  const header: SidecarFolder = { type: 'folder', format: SIDECAR_FORMAT, version: 1, ...info };
  const line = Buffer.from(recordLine(header), 'utf8');
  const side = await open(sidecarPath, 'w', 0o600);
  try {
    await writeFully(side, line, 0);
    await side.datasync();
  } finally {
    await side.close();
  }
  const mbox = await open(mboxPath, 'wx', 0o600);
  await mbox.datasync();
  await mbox.close();
  await syncDir(dir);
  return new MboxFolder(mboxPath, sidecarPath, header, [], 0, line.length);
}

export async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

/** writev until every byte is out: a write may be short (a signal, a nearly full disk). */
export async function writevFully(fh: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  let at = position;
  let rest = bufs;
  while (rest.length) {
    let { bytesWritten } = await fh.writev(rest, at);
    at += bytesWritten;
    let i = 0;
    while (i < rest.length && bytesWritten >= rest[i]!.length) bytesWritten -= rest[i++]!.length;
    rest = rest.slice(i);
    if (rest.length && bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
}

async function truncateDurably(path: string, length: number): Promise<void> {
  await truncate(path, length);
  const fh = await open(path, 'r+');
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some platforms cannot fsync a directory; the file data itself is synced already.
  } finally {
    await fh.close();
  }
}

import { open, rename, writeFile } from 'node:fs/promises';

/** fsync a directory, so the names created or renamed in it survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Groups directory fsyncs: a caller that arrives while one runs waits for the next one,
 * which starts after the running one and covers every rename made before it began.
 */
export class DirSyncer {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly dir: string) {}

  sync(): Promise<void> {
    if (this.next) return this.next;
    if (!this.running) {
      this.running = syncDir(this.dir).finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.next = this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.sync();
      });
    return this.next;
  }
}

/** Replace `path` atomically and durably: a temp file beside it, fsync, rename, fsync the dir. */
export async function replaceFile(path: string, dir: string, text: string): Promise<void> {
  const tmp = `${path}.mailferry-${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  const fh = await open(tmp, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(dir);
}

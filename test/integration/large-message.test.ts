import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, runOptions } from '../helpers/cli.js';
import { countBy, readAccount } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, rig } from '../helpers/rig.js';
import { type SeededMessage, seedAccount } from '../rig/seed.js';

const BIG = 50 * 1024 * 1024;
const MB = 1024 * 1024;

/**
 * Memory, not time: a mailbox holding one 50 MB message may raise peak RSS by at most about
 * twice that message over the same mailbox without it (read from the CLI's own
 * process.resourceUsage().maxRSS, reported in --json).
 */
describe('a 50 MB message', () => {
  let small: { user: string; password: string };
  let big: { user: string; password: string };
  let bigSeeded: SeededMessage[];

  beforeAll(async () => {
    if (!existsSync('dist/mailferry.mjs'))
      throw new Error('dist/mailferry.mjs is missing: run npm run build (npm test does)');
    small = await freshAccount('big-base');
    big = await freshAccount('big-src');
    await seedAccount(rig(), small.user, { folders: [{ name: 'INBOX', count: 200, offset: 5000 }] });
    bigSeeded = await seedAccount(rig(), big.user, {
      folders: [{ name: 'INBOX', count: 200, offset: 5000 }],
      big: [{ folder: 'INBOX', bytes: BIG }],
    });
  }, 300_000);

  async function copyTo(kind: 'imap' | 'zip' | 'mbox', src: { user: string; password: string }) {
    const state = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const dir = mkdtempSync(join(tmpdir(), 'mf-big-'));
    const target = kind === 'imap' ? await freshAccount('big-dst') : undefined;
    const sink = target ? imapUrl(target.user) : kind === 'zip' ? `zip:${join(dir, 'a.zip')}` : `mbox:${dir}`;
    const env = { MAILFERRY_SOURCE_PASSWORD: src.password, MAILFERRY_SINK_PASSWORD: target?.password ?? '' };
    const res = await runCli(['copy', imapUrl(src.user), sink, ...runOptions(state)], env, true);
    expect(res.code, res.stderr).toBe(0);
    return { report: JSON.parse(res.stdout) as { copied: number; peakRssMb: number }, target };
  }

  it.each(['imap', 'zip', 'mbox'] as const)(
    'IMAP → %s copies it with peak RSS within 2× the message over baseline',
    async (kind) => {
      const base = await copyTo(kind, small);
      const withBig = await copyTo(kind, big);
      expect(withBig.report.copied).toBe(bigSeeded.length);
      // The CLI's own peak (VmHWM), not the forking test worker's: Linux carries maxRSS across exec.
      expect(base.report.peakRssMb).toBeLessThan(150);
      const growth = withBig.report.peakRssMb - base.report.peakRssMb;
      console.log(
        `${kind}: peak RSS ${base.report.peakRssMb} MiB without, ${withBig.report.peakRssMb} MiB with the 50 MB message (+${growth} MiB)`,
      );
      // About twice the message: the IMAP sink holds it once (imapflow takes a Buffer), and
      // 32 MiB covers garbage V8 has not collected yet.
      expect(growth).toBeLessThanOrEqual((2 * BIG) / MB + 32);
      if (withBig.target) {
        const got = (await readAccount(withBig.target.user, withBig.target.password)).get('INBOX') ?? [];
        expect(countBy(got, (m) => m.sha256)).toEqual(countBy(bigSeeded, (m) => m.sha256));
      }
    },
  );
});

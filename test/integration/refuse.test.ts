import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorLines, runCli, runOptions } from '../helpers/cli.js';
import { readAccount } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, pop3Url, rig } from '../helpers/rig.js';
import { seedAccount } from '../rig/seed.js';

/**
 * Options a store cannot honour stop the run before anything is written: exit 2, one line
 * naming the option and the store, no archive, no journal, nothing in the sink account.
 */

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

let files: string;
let src: { user: string; password: string };

beforeAll(async () => {
  files = tmp('mf-refuse-');
  writeFileSync(
    join(files, 'one.mbox'),
    'From a@example.com Thu Jan  1 00:00:00 2020\nMessage-ID: <r1@example.com>\nSubject: x\n\nhi\n',
  );
  const made = await runCli(
    ['copy', `mbox:${join(files, 'one.mbox')}`, `zip:${join(files, 'a.zip')}`, ...runOptions(tmp('mf-st-'))],
    {},
    true,
  );
  expect(made.code, made.stderr).toBe(0);
  src = await freshAccount('refuse-src');
  await seedAccount(rig(), src.user, { folders: [{ name: 'INBOX', count: 3, offset: 20 }] });
}, 120_000);

/** The state directory holds no journal (a refused run leaves not even its pair directory). */
function expectNoJournal(stateDir: string): void {
  expect(readdirSync(stateDir)).toEqual([]);
}

describe('options a store cannot honour', () => {
  it.each([
    ['an mbox file', () => `mbox:${join(files, 'one.mbox')}`],
    ['a zip archive', () => `zip:${join(files, 'a.zip')}`],
  ])('--delete-source from %s: exit 2, nothing written', async (_n, source) => {
    const out = join(tmp('mf-refuse-out-'), 'b.zip');
    const stateDir = tmp('mf-st-');
    const res = await runCli(
      ['copy', source(), `zip:${out}`, '--delete-source', ...runOptions(stateDir)],
      {},
      true,
    );
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr.trim().split('\n')).toEqual([
      `mailferry: copy: --delete-source cannot be honoured by the source ${source()}: it cannot delete messages (leave out --delete-source, and delete at the source yourself once verify exits 0)`,
    ]);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.mailferry.lock`)).toBe(false);
    expectNoJournal(stateDir);
  });

  it.each([
    ['--unread', ['--unread'], 'its own flags (\\Seen or not) are copied'],
    ['--folder', ['--folder', 'Archive'], 'its own folders are copied'],
  ])('%s with an mbox source: exit 2, nothing written', async (option, extra, why) => {
    const outDir = tmp('mf-refuse-out-');
    const stateDir = tmp('mf-st-');
    const source = `mbox:${join(files, 'one.mbox')}`;
    const res = await runCli(
      ['copy', source, `mbox:${join(outDir, 'm')}`, ...extra, ...runOptions(stateDir)],
      {},
      true,
    );
    expect(res.code, res.stderr).toBe(2);
    expect(errorLines(res.stderr)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^mailferry: copy: ${option} cannot be honoured by the source ${source}: ${why.replace(/[\\()]/g, '\\$&')} \\(.+\\)$`,
        ),
      ),
    ]);
    expect(readdirSync(outDir)).toEqual([]);
    expectNoJournal(stateDir);
  });

  it.each([
    ['--include', ['--include', 'Archive']],
    ['--exclude', ['--exclude', 'Junk']],
    ['--map', ['--map', 'INBOX=Old']],
  ])('%s with a POP3 source (no folders): exit 2, the IMAP sink untouched', async (option, extra) => {
    const sink = await freshAccount('refuse-sink');
    const stateDir = tmp('mf-st-');
    const res = await runCli(
      ['copy', pop3Url(src.user), imapUrl(sink.user), ...extra, ...runOptions(stateDir)],
      { MAILFERRY_SOURCE_PASSWORD: src.password, MAILFERRY_SINK_PASSWORD: sink.password },
      true,
    );
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr.trim().split('\n')).toEqual([
      `mailferry: copy: ${option} cannot be honoured by the source ${pop3Url(src.user)}: it has no folders (name the one target folder with --folder)`,
    ]);
    const held = await readAccount(sink.user, sink.password);
    expect([...held.values()].flat()).toEqual([]);
    expectNoJournal(stateDir);
  });

  it('the same options where the store honours them still run', async () => {
    const sink = await freshAccount('refuse-ok');
    const res = await runCli(
      [
        'copy',
        pop3Url(src.user),
        imapUrl(sink.user),
        '--folder',
        'Old',
        '--unread',
        ...runOptions(tmp('mf-st-')),
      ],
      { MAILFERRY_SOURCE_PASSWORD: src.password, MAILFERRY_SINK_PASSWORD: sink.password },
      true,
    );
    expect(res.code, res.stderr).toBe(0);
    const held = await readAccount(sink.user, sink.password);
    expect(held.get('Old')?.map((m) => m.flags)).toEqual([[], [], []]);
  });
});

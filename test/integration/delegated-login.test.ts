/**
 * Issue 14: delegated login. A Dovecot master user (test/rig/masters.ts) logs in with its
 * own password on behalf of each user (SASL PLAIN authorisation id). Through the CLI against
 * the real Dovecot: only the master password is given, and it appears nowhere.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { collect, errorLines, runCli, runOptions, spawnCli } from '../helpers/cli.js';
import { freshAccount, imapUrl, pop3Url, rig } from '../helpers/rig.js';
import { mailboxStatus } from '../rig/accounts.js';
import { createMasterUser } from '../rig/masters.js';
import { seedAccount } from '../rig/seed.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const master = `master-${randomBytes(3).toString('hex')}`;
const masterPassword = `mpw-${randomBytes(8).toString('hex')}`;
let src: { user: string; password: string };

beforeAll(async () => {
  createMasterUser(rig(), master, masterPassword);
  src = await freshAccount('deleg-src');
  await seedAccount(rig(), src.user, {
    folders: [
      { name: 'INBOX', count: 6 },
      { name: 'Work', count: 4 },
    ],
  });
}, 120_000);

async function count(user: string, folder: string): Promise<number> {
  return (await mailboxStatus(rig(), user)).find((r) => r.folder === folder)?.messages ?? 0;
}

/** Every file under dir, read whole. */
function allText(dir: string): string {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => readFileSync(f, 'latin1'))
    .join('\n');
}

/** The password and the SASL PLAIN responses that carry it. */
function forms(user: string): string[] {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [masterPassword, b64(masterPassword), b64(`${user}\0${master}\0${masterPassword}`)];
}

describe('delegated login with a Dovecot master user', () => {
  it('IMAP to IMAP: both sides as the master, the password nowhere, state named by the users', async () => {
    const dst = await freshAccount('deleg-dst');
    const state = tmp('mf-deleg-st-');
    const log = join(tmp('mf-deleg-log-'), 'log.jsonl');
    const args = [
      'copy',
      imapUrl(src.user),
      imapUrl(dst.user),
      '--source-auth-user',
      master,
      '--sink-auth-user',
      master,
      ...runOptions(state),
      '--log-file',
      log,
      '--verbose',
    ];
    const child = spawnCli(args, {
      MAILFERRY_SOURCE_PASSWORD: masterPassword,
      MAILFERRY_SINK_PASSWORD: masterPassword,
    });
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'latin1');
    const res = await collect(child);
    expect(errorLines(res.stderr)).toEqual([]);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as { copied: number; source: string; sink: string };
    expect(report.copied).toBe(10);
    expect(await count(dst.user, 'INBOX')).toBe(6);
    expect(await count(dst.user, 'Work')).toBe(4);
    // The pair is the users mailed, never the admin.
    expect(report.source).toContain(encodeURIComponent(src.user));
    expect(report.source + report.sink).not.toContain(master);
    const pairs = readdirSync(state);
    expect(pairs).toHaveLength(1);
    const pair = JSON.parse(readFileSync(join(state, pairs[0]!, 'pair.json'), 'utf8')) as { source: string };
    expect(pair.source).toBe(report.source);
    const everything = [cmdline, res.stdout, res.stderr, readFileSync(log, 'utf8'), allText(state)].join(
      '\n',
    );
    for (const f of [...forms(src.user), ...forms(dst.user)]) expect(everything).not.toContain(f);
  });

  it('POP3: AUTH PLAIN with the authorisation id copies the user INBOX', async () => {
    const dst = await freshAccount('deleg-pop-dst');
    const res = await runCli(
      [
        'copy',
        pop3Url(src.user),
        imapUrl(dst.user),
        '--source-auth-user',
        master,
        ...runOptions(tmp('mf-deleg-st-')),
      ],
      { MAILFERRY_SOURCE_PASSWORD: masterPassword, MAILFERRY_SINK_PASSWORD: dst.password },
    );
    expect(errorLines(res.stderr)).toEqual([]);
    expect(res.code).toBe(0);
    expect(await count(dst.user, 'INBOX')).toBe(6);
    expect(res.stdout + res.stderr).not.toContain(masterPassword);
  });

  it("a wrong master password: exit 3, one line, the user's mail untouched", async () => {
    const wrong = `${masterPassword}-wrong`;
    const res = await runCli(
      [
        'plan',
        imapUrl(src.user),
        `mbox:${tmp('mf-deleg-mbox-')}`,
        '--source-auth-user',
        master,
        ...runOptions(tmp('mf-deleg-st-')),
      ],
      { MAILFERRY_SOURCE_PASSWORD: wrong },
    );
    expect(res.code).toBe(3);
    expect(errorLines(res.stderr)).toHaveLength(1);
    expect(res.stdout + res.stderr).not.toContain(wrong);
  });

  it('the user password with --source-auth-user is refused: the admin authenticates, not the user', async () => {
    const res = await runCli(
      [
        'plan',
        imapUrl(src.user),
        `mbox:${tmp('mf-deleg-mbox-')}`,
        '--source-auth-user',
        master,
        ...runOptions(tmp('mf-deleg-st-')),
      ],
      { MAILFERRY_SOURCE_PASSWORD: src.password },
    );
    expect(res.code).toBe(3);
  });

  it('--source-auth-user with --source-oauth2-command: exit 2 before connecting', async () => {
    const res = await runCli([
      'plan',
      imapUrl(src.user),
      `mbox:${tmp('mf-deleg-mbox-')}`,
      '--source-auth-user',
      master,
      '--source-oauth2-command',
      'echo token',
      ...runOptions(tmp('mf-deleg-st-')),
    ]);
    expect(res.code).toBe(2);
    expect(errorLines(res.stderr)[0]).toMatch(
      /--source-auth-user and --source-oauth2-command do not go together/,
    );
  });
});

/**
 * Issue 16: what a user gives mailferry (credentials, folder names, option values) never
 * turns into extra commands, never leaks into a child process or output, and is checked
 * before anything connects. Through the built CLI against the real Dovecot.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorLines, runCli, runOptions } from '../helpers/cli.js';
import { freshAccount, imapUrl, pop3Url, rig } from '../helpers/rig.js';
import { mailboxStatus } from '../rig/accounts.js';
import { setOAuthTokens } from '../rig/oauth.js';
import { seedAccount } from '../rig/seed.js';

let src: { user: string; password: string };

beforeAll(async () => {
  src = await freshAccount('sec-src');
  await seedAccount(rig(), src.user, { folders: [{ name: 'INBOX', count: 3 }] });
}, 120_000);

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

async function inboxCount(user: string): Promise<number> {
  return (await mailboxStatus(rig(), user)).find((r) => r.folder === 'INBOX')?.messages ?? 0;
}

/** Every file under dir, read whole (state directory, mbox output). */
function allText(dir: string): string {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => readFileSync(f, 'latin1'))
    .join('\n');
}

describe('CR/LF/NUL in what reaches the wire', () => {
  it('a password with CRLF DELE lines stops with exit 2 and deletes nothing at the server', async () => {
    const before = await inboxCount(src.user);
    expect(before).toBe(3);
    const injected = `${src.password}\r\nDELE 1\r\nDELE 2\r\nQUIT`;
    const res = await runCli(
      ['copy', pop3Url(src.user), `mbox:${tmp('mf-sec-mbox-')}`, ...runOptions(tmp('mf-sec-st-'))],
      { MAILFERRY_SOURCE_PASSWORD: injected },
      true,
    );
    expect(res.code).toBe(2);
    const lines = errorLines(res.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/source password in MAILFERRY_SOURCE_PASSWORD contains a line break/);
    expect(res.stderr + res.stdout).not.toContain(src.password);
    expect(await inboxCount(src.user)).toBe(before);
  });

  it('over plain pop3 (USER/PASS) too, and a password file with a lone CR', async () => {
    const dir = tmp('mf-sec-pw-');
    writeFileSync(join(dir, 'pw'), `${src.password}\rDELE 1\n`);
    const res = await runCli(
      [
        'copy',
        pop3Url(src.user, { tls: 'pop3' }),
        `mbox:${tmp('mf-sec-mbox-')}`,
        '--source-password-file',
        join(dir, 'pw'),
        ...runOptions(tmp('mf-sec-st-')),
      ],
      {},
      true,
    );
    expect(res.code).toBe(2);
    expect(errorLines(res.stderr).at(-1)).toMatch(/source password in .* contains a line break/);
    expect(await inboxCount(src.user)).toBe(3);
  });

  it.each([
    ['--folder', ['--folder', 'IN\r\nBOX']],
    ['--map', ['--map', 'INBOX=x\r\nDELETE INBOX']],
    ['--include', ['--include', 'INBOX\n']],
  ])('%s with a line break: exit 2 before connecting', async (name, extra) => {
    const sink = await freshAccount('sec-sink');
    const res = await runCli(
      ['copy', pop3Url(src.user), imapUrl(sink.user), ...extra, ...runOptions(tmp('mf-sec-st-'))],
      { MAILFERRY_SOURCE_PASSWORD: src.password, MAILFERRY_SINK_PASSWORD: sink.password },
      true,
    );
    expect(res.code).toBe(2);
    expect(errorLines(res.stderr)).toEqual([expect.stringContaining(`${name}`)]);
    expect(errorLines(res.stderr)[0]).toMatch(/line break or NUL/);
    expect(await mailboxStatus(rig(), sink.user)).toEqual(
      expect.not.arrayContaining([expect.objectContaining({ messages: expect.any(Number), folder: 'x' })]),
    );
  });

  it('a user name or folder percent-encoded with %0D%0A in the URL: exit 2', async () => {
    const res = await runCli(
      ['ls', `imaps://${encodeURIComponent(src.user)}%0D%0Ax@127.0.0.1:${rig().ports.imaps}`],
      { MAILFERRY_SOURCE_PASSWORD: src.password },
      true,
    );
    expect(res.code).toBe(2);
    expect(errorLines(res.stderr).at(-1)).toMatch(/user name in .* contains a line break/);
    const folder = await runCli(
      ['ls', `${imapUrl(src.user)}/INBOX%0D%0ADELETE%20INBOX`],
      { MAILFERRY_SOURCE_PASSWORD: src.password },
      true,
    );
    expect(folder.code).toBe(2);
    expect(errorLines(folder.stderr).at(-1)).toMatch(/folder in .* contains a line break/);
    expect(await inboxCount(src.user)).toBe(3);
  });

  it('an OAuth2 token: one trailing newline is fine, a second line is refused with exit 2', async () => {
    const user = await freshAccount('sec-oauth');
    setOAuthTokens(rig(), user.user, ['tok-good-1234']);
    const ok = await runCli(
      [
        'ls',
        imapUrl(user.user),
        '--ca-file',
        rig().caFile,
        '--source-oauth2-command',
        'printf "tok-good-1234\\r\\n"',
      ],
      {},
      true,
    );
    expect(ok.code).toBe(0);
    const bad = await runCli(
      [
        'ls',
        imapUrl(user.user),
        '--ca-file',
        rig().caFile,
        '--source-oauth2-command',
        'printf "tok-good-1234\\nA1 DELETE INBOX\\n"',
      ],
      {},
      true,
    );
    expect(bad.code).toBe(2);
    expect(errorLines(bad.stderr).at(-1)).toMatch(
      /token the source OAuth2 command printed contains a line break/,
    );
  });
});

describe('the OAuth2 token command runs without our secrets', () => {
  it('its environment and argv hold no password, and nothing we write does either', async () => {
    const user = await freshAccount('sec-env');
    const token = 'tok-env-5678-secret';
    setOAuthTokens(rig(), user.user, [token]);
    await seedAccount(rig(), user.user, { folders: [{ name: 'INBOX', count: 2 }] });
    const sink = await freshAccount('sec-env-sink');
    const dir = tmp('mf-sec-env-');
    const stateDir = tmp('mf-sec-st-');
    const logFile = join(tmp('mf-sec-log-'), 'run.jsonl');
    // The command records what it inherited: its environment and its own and its parent's argv.
    const cmd = `env > ${dir}/env; tr '\\0' ' ' < /proc/$$/environ > ${dir}/environ; tr '\\0' ' ' < /proc/$$/cmdline > ${dir}/cmdline; tr '\\0' ' ' < /proc/$PPID/cmdline > ${dir}/parent; echo ${token}`;
    const sourcePw = 'source-pw-never-inherited';
    const res = await runCli(
      [
        'copy',
        imapUrl(user.user),
        imapUrl(sink.user),
        '--source-oauth2-command',
        cmd,
        '--log-file',
        logFile,
        '--verbose',
        ...runOptions(stateDir),
      ],
      { MAILFERRY_SOURCE_PASSWORD: sourcePw, MAILFERRY_SINK_PASSWORD: sink.password },
      true,
    );
    expect(res.code).toBe(0);
    expect(await inboxCount(sink.user)).toBe(2);
    const env = readFileSync(join(dir, 'env'), 'utf8');
    expect(env).toContain('PATH=');
    for (const f of ['env', 'environ', 'cmdline', 'parent']) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(text).not.toContain(sink.password);
      expect(text).not.toContain(sourcePw);
      expect(text).not.toMatch(/MAILFERRY_\w*PASSWORD/);
    }
    // A clean run may log nothing; whatever it logged is checked too.
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    const written = [log, res.stdout, res.stderr, allText(stateDir)].join('\n');
    expect(written).not.toContain(sink.password);
    expect(written).not.toContain(token);
    expect(written).not.toContain(Buffer.from(`\0${sink.user}\0${sink.password}`).toString('base64'));
  });
});

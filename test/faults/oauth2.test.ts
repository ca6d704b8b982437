/**
 * OAuth2 against the real Dovecot: its oauth2 passdb asks test/rig/oauth.ts about every token, and
 * only the tokens set there are accepted. The token command is a script printing whatever token is
 * in its file, so the test can change the token mid-run as a real refresh would.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, collect, errorLines, runCli, spawnCli } from '../helpers/cli.js';
import { doneCount } from '../helpers/kill.js';
import { countBy, readAccount, type StoredMessage } from '../helpers/mailbox.js';
import { freshAccount, imapUrl, pop3Url, rig } from '../helpers/rig.js';
import { doveadm } from '../rig/dovecot.js';
import { introspections, setOAuthTokens, TokenCommand, tokenFingerprint } from '../rig/oauth.js';
import { type SeededMessage, seedAccount } from '../rig/seed.js';

type Account = { user: string; password: string };

/** A refresh: the new token is valid before the command hands it out; the old one is revoked after. */
function refresh(user: string, cmd: TokenCommand, oldToken: string, newToken: string): void {
  setOAuthTokens(rig(), user, [oldToken, newToken]);
  cmd.token = newToken;
  setOAuthTokens(rig(), user, [newToken]);
}

const newToken = (tag: string) => `${tag}-${randomBytes(12).toString('base64url')}`;

/** Introspections of these tokens: accepted and rejected. */
function seen(tokens: string[], since = 0): { ok: number; rejected: number } {
  const fps = new Set(tokens.map(tokenFingerprint));
  const hits = introspections(rig()).filter((r) => fps.has(r.fingerprint) && r.at >= since);
  const ok = hits.filter((r) => r.user).length;
  return { ok, rejected: hits.length - ok };
}

/** Far above the few seconds a run takes: past it the CLI is stuck, and is killed so the test can say so. */
const HANG_MS = 60_000;

/**
 * Runs the CLI and calls `act` once `when` holds while the run still goes on. A CLI that does not
 * exit by itself within HANG_MS is killed and reported as hung.
 */
async function runAndAct(
  args: string[],
  env: NodeJS.ProcessEnv,
  when: () => boolean,
  act: (alive: () => boolean) => Promise<void>,
): Promise<{ acted: boolean; hung: boolean; result: CliResult }> {
  const child = spawnCli(args, env);
  const done = collect(child);
  let finished = false;
  done.then(() => {
    finished = true;
  });
  const deadline = Date.now() + HANG_MS;
  let acted = false;
  while (!finished && Date.now() < deadline) {
    if (!acted && when()) {
      acted = true;
      await act(() => !finished && Date.now() < deadline);
    }
    await sleep(5);
  }
  const hung = !finished && child.kill('SIGKILL');
  return { acted, hung, result: await done };
}

/** The CLI must exit by itself: a report on stdout followed by a hang means connections were left open. */
function expectExited(run: { hung: boolean; result: CliResult }): void {
  const said = run.result.stdout ? `; it had printed its report: ${run.result.stdout.slice(0, 300)}` : '';
  expect(run.hung, `mailferry did not exit within ${HANG_MS / 1000} s${said}`).toBe(false);
}

/** Every seeded message is in the sink exactly once, in its folder, and nothing else is. */
function expectEachOnce(got: Map<string, StoredMessage[]>, want: SeededMessage[]): void {
  const total = [...got.values()].reduce((n, msgs) => n + msgs.length, 0);
  expect(total).toBe(want.length);
  for (const folder of new Set(want.map((m) => m.folder))) {
    const mine = want.filter((m) => m.folder === folder);
    const sha = (m: { sha256: string }) => m.sha256;
    expect(countBy(got.get(folder) ?? [], sha), folder).toEqual(countBy(mine, sha));
  }
}

/** No token may reach stdout, stderr, the log file or the state directory. */
function expectNoToken(tokens: string[], res: CliResult, files: string[]): void {
  const texts = [res.stdout, res.stderr, ...files.map((f) => readFileSync(f, 'utf8'))];
  for (const t of tokens) for (const text of texts) expect(text.includes(t)).toBe(false);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

let src: Account;
let seeded: SeededMessage[];

beforeAll(async () => {
  src = await freshAccount('oauth-src');
  seeded = await seedAccount(rig(), src.user, {
    folders: [
      { name: 'INBOX', count: 180, offset: 4000 },
      { name: 'Sent', count: 60, specialUse: '\\Sent' },
      { name: 'Archive/2002', count: 60 },
    ],
    flags: true,
  });
}, 300_000);

type Kind = 'imap' | 'pop3';

/** One copy from the seeded source, its token command, and the sink. */
function setup(kind: Kind) {
  const stateDir = mkdtempSync(join(tmpdir(), 'mf-state-'));
  const logFile = join(mkdtempSync(join(tmpdir(), 'mf-log-')), 'run.jsonl');
  const want = kind === 'imap' ? seeded : seeded.filter((m) => m.folder === 'INBOX');
  const source = kind === 'imap' ? imapUrl(src.user) : pop3Url(src.user);
  const args = (sinkUser: string, extra: string[]) => [
    'copy',
    source,
    imapUrl(sinkUser),
    '--ca-file',
    rig().caFile,
    '--state-dir',
    stateDir,
    '--progress',
    'none',
    '--json',
    ...extra,
  ];
  // Slow enough that the token changes mid-run, not after it; the log file is checked for tokens.
  const midRun = [
    '--max-messages-per-second',
    kind === 'imap' ? '100' : '60',
    '--log-file',
    logFile,
    '--verbose',
  ];
  return { stateDir, logFile, want, args, midRun };
}

async function expectFinished(res: CliResult, sink: Account, want: SeededMessage[]): Promise<void> {
  expect(res.code, res.stderr).toBe(0);
  const report = JSON.parse(res.stdout);
  expect(report.failed).toEqual([]);
  expect(report.copied).toBe(want.length);
  expectEachOnce(await readAccount(sink.user, sink.password), want);
}

describe.each<Kind>(['imap', 'pop3'])('OAuth2 %s source against Dovecot', (kind) => {
  it('a token rotated mid-run is picked up at the forced reconnect, with no failed messages', async () => {
    const { stateDir, logFile, want, args, midRun } = setup(kind);
    const sink = await freshAccount('oauth-dst');
    const [oldSrc, newSrc, oldSink, newSink] = [
      newToken('s1'),
      newToken('s2'),
      newToken('d1'),
      newToken('d2'),
    ];
    setOAuthTokens(rig(), src.user, [oldSrc]);
    const srcCmd = new TokenCommand(oldSrc);
    // IMAP→IMAP logs in with OAuth2 on both sides; POP3 (XOAUTH2) feeds a password-login sink.
    setOAuthTokens(rig(), sink.user, [oldSink]);
    const sinkCmd = new TokenCommand(oldSink);
    const extra = [...midRun, '--source-oauth2-command', srcCmd.command];
    const env: NodeJS.ProcessEnv = {};
    if (kind === 'imap') extra.push('--sink-oauth2-command', sinkCmd.command);
    else env.MAILFERRY_SINK_PASSWORD = sink.password;

    let doneAtRotation = 0;
    let runsAtRotation = 0;
    let rotatedAt = 0;
    const run = await runAndAct(
      args(sink.user, extra),
      env,
      () => doneCount(stateDir) >= 40,
      async () => {
        doneAtRotation = doneCount(stateDir);
        runsAtRotation = srcCmd.runs();
        rotatedAt = Date.now();
        refresh(src.user, srcCmd, oldSrc, newSrc);
        refresh(sink.user, sinkCmd, oldSink, newSink);
        // Sessions logged in with the old token would live on: drop them so every one logs in again.
        await doveadm(rig(), ['kick', src.user]);
        if (kind === 'imap') await doveadm(rig(), ['kick', sink.user]);
      },
    );
    expect(run.acted).toBe(true);
    expect(doneAtRotation).toBeLessThan(want.length - 20);
    expectExited(run);
    const { result } = run;
    await expectFinished(result, sink, want);

    const srcSeen = seen([oldSrc, newSrc]);
    expect(srcSeen.rejected, 'no source login failed').toBe(0);
    expect(seen([oldSrc]).ok).toBeGreaterThanOrEqual(1);
    expect(seen([newSrc], rotatedAt).ok, 'logins with the new token after the kick').toBeGreaterThanOrEqual(
      1,
    );
    // At least once per new connection: every login asked the command first.
    expect(srcCmd.runs()).toBeGreaterThan(runsAtRotation);
    expect(srcCmd.runs()).toBeGreaterThanOrEqual(srcSeen.ok);
    if (kind === 'imap') {
      const sinkSeen = seen([oldSink, newSink]);
      expect(sinkSeen.rejected, 'no sink login failed').toBe(0);
      expect(seen([newSink], rotatedAt).ok).toBeGreaterThanOrEqual(1);
      expect(sinkCmd.runs()).toBeGreaterThanOrEqual(sinkSeen.ok);
    }
    expectNoToken([oldSrc, newSrc, oldSink, newSink], result, [logFile, ...filesUnder(stateDir)]);
  });

  it('a token that expires mid-run: the failed re-login runs the command again and the run finishes', async () => {
    const { stateDir, logFile, want, args, midRun } = setup(kind);
    const sink = await freshAccount('oauth-exp');
    const [oldSrc, newSrc] = [newToken('e1'), newToken('e2')];
    setOAuthTokens(rig(), src.user, [oldSrc]);
    const cmd = new TokenCommand(oldSrc);
    let expiredAt = 0;
    let runsAtFailure = 0;
    const run = await runAndAct(
      args(sink.user, [...midRun, '--source-oauth2-command', cmd.command]),
      { MAILFERRY_SINK_PASSWORD: sink.password },
      () => doneCount(stateDir) >= 40,
      async (alive) => {
        // The server lets the token expire while the command still hands it out (a cached token).
        expiredAt = Date.now();
        setOAuthTokens(rig(), src.user, [newSrc]);
        await doveadm(rig(), ['kick', src.user]);
        // Dovecot answers a failed login only after auth_failure_delay (2 s), so the command
        // learns of the new token well before mailferry learns that the old one failed.
        while (alive() && seen([oldSrc], expiredAt).rejected === 0) await sleep(5);
        runsAtFailure = cmd.runs();
        cmd.token = newSrc;
      },
    );
    expect(run.acted).toBe(true);
    expect(seen([oldSrc], expiredAt).rejected, 'a re-login with the expired token failed').toBeGreaterThan(0);
    expectExited(run);
    const { result } = run;
    await expectFinished(result, sink, want);
    expect(cmd.runs()).toBeGreaterThan(runsAtFailure);
    expect(seen([newSrc], expiredAt).ok).toBeGreaterThanOrEqual(1);
    expectNoToken([oldSrc, newSrc], result, [logFile, ...filesUnder(stateDir)]);
  });

  it('a token the server never accepted exits 3 with one line about OAuth2, without the token', async () => {
    const { stateDir, args } = setup(kind);
    const sink = await freshAccount('oauth-bad');
    const valid = newToken('v');
    const wrong = newToken('wrong');
    setOAuthTokens(rig(), src.user, [valid]);
    const cmd = new TokenCommand(wrong);
    const res = await runCli(args(sink.user, ['--source-oauth2-command', cmd.command]), {
      MAILFERRY_SINK_PASSWORD: sink.password,
    });
    expect(res.code, res.stderr).toBe(3);
    expect(errorLines(res.stderr)).toHaveLength(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).not.toContain(wrong);
    expect(seen([wrong]).rejected, 'Dovecot really asked about the token').toBeGreaterThan(0);
    // A first login that fails is not retried: only a failure after a success is an expiry.
    expect(cmd.runs()).toBe(1);
    expect(doneCount(stateDir)).toBe(0);
    expect(res.stderr).toMatch(/OAuth2|token/i);
    // The advice must fit a token login, not send the user after a password.
    expect(res.stderr).not.toMatch(/check the password/i);
  });
});

describe('OAuth2 rig and CLI edges', () => {
  let sink: Account;
  beforeAll(async () => {
    sink = await freshAccount('oauth-edge');
  });

  /** `plan` from the seeded source to the password sink: logs in on both sides, writes nothing. */
  function plan(source: string, creds: { password?: string; command?: string }): Promise<CliResult> {
    const state = mkdtempSync(join(tmpdir(), 'mf-state-'));
    const args = [
      'plan',
      source,
      imapUrl(sink.user),
      '--ca-file',
      rig().caFile,
      '--state-dir',
      state,
      '--json',
    ];
    if (creds.command) args.push('--source-oauth2-command', creds.command);
    const env: NodeJS.ProcessEnv = { MAILFERRY_SINK_PASSWORD: sink.password };
    if (creds.password) env.MAILFERRY_SOURCE_PASSWORD = creds.password;
    return runCli(args, env);
  }

  it('a failing token command exits 3 naming the command, and never connects', async () => {
    const cmd = new TokenCommand('unused', 1);
    const before = introspections(rig()).length;
    const res = await plan(imapUrl(src.user), { command: cmd.command });
    expect(res.code, res.stderr).toBe(3);
    expect(errorLines(res.stderr)).toHaveLength(1);
    expect(res.stderr).toMatch(/OAuth2 command failed/);
    expect(cmd.runs()).toBe(1);
    expect(introspections(rig()).length).toBe(before);
  });

  it('password logins still work for an account with OAuth2 tokens, and neither stands in for the other', async () => {
    const token = newToken('p');
    setOAuthTokens(rig(), src.user, [token]);
    for (const url of [imapUrl(src.user), pop3Url(src.user)]) {
      const byPassword = await plan(url, { password: src.password });
      expect(byPassword.code, byPassword.stderr).toBe(0);
      const byToken = await plan(url, { command: new TokenCommand(token).command });
      expect(byToken.code, byToken.stderr).toBe(0);
      const { createdAt: _a, ...viaToken } = JSON.parse(byToken.stdout);
      const { createdAt: _b, ...viaPassword } = JSON.parse(byPassword.stdout);
      expect(viaToken).toEqual(viaPassword);
    }
    const passwordAsToken = await plan(imapUrl(src.user), {
      command: new TokenCommand(src.password).command,
    });
    expect(passwordAsToken.code, 'the password is no token').toBe(3);
    const tokenAsPassword = await plan(imapUrl(src.user), { password: token });
    expect(tokenAsPassword.code, 'the token is no password').toBe(3);
  });

  it('ls takes --source-oauth2-command like copy, plan and verify do', async () => {
    const token = newToken('ls');
    setOAuthTokens(rig(), src.user, [token]);
    const cmd = new TokenCommand(token);
    const res = await runCli([
      'ls',
      imapUrl(src.user),
      '--ca-file',
      rig().caFile,
      '--source-oauth2-command',
      cmd.command,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^INBOX\s+180\s/m);
    expect(cmd.runs()).toBe(1);
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorLines, runCli } from '../helpers/cli.js';
import { freshAccount, imapUrl, pop3Url, rig } from '../helpers/rig.js';
import { mailboxStatus } from '../rig/accounts.js';
import { seedAccount } from '../rig/seed.js';

let user: string;
let password: string;

beforeAll(async () => {
  ({ user, password } = await freshAccount('ls'));
  await seedAccount(rig(), user, {
    folders: [
      { name: 'INBOX', count: 40 },
      { name: 'Sent', count: 12, specialUse: '\\Sent' },
      { name: 'Archive/2002', count: 9 },
      { name: 'Entwürfe', count: 5 },
    ],
    edgeCases: 'INBOX',
  });
});

function parseLs(stdout: string): Map<string, { messages: number; bytes: number }> {
  const out = new Map<string, { messages: number; bytes: number }>();
  for (const s of JSON.parse(stdout) as Array<{
    folder: { name: string };
    messages: number;
    bytes: number;
  }>) {
    out.set(s.folder.name, { messages: s.messages, bytes: s.bytes });
  }
  return out;
}

describe('mailferry ls against the real Dovecot', () => {
  const env = () => ({ MAILFERRY_SOURCE_PASSWORD: password });
  const ca = () => ['--ca-file', rig().caFile];

  it.each(['imaps', 'imap'] as const)('%s: per-folder counts equal doveadm mailbox status', async (tls) => {
    const res = await runCli(['ls', imapUrl(user, { tls }), ...ca(), '--json'], env());
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const got = parseLs(res.stdout);
    const want = await mailboxStatus(rig(), user);
    expect(want.length).toBeGreaterThanOrEqual(4);
    for (const w of want) {
      expect(got.get(w.folder)?.messages, w.folder).toBe(w.messages);
      expect(got.get(w.folder)?.bytes, w.folder).toBe(w.vsize);
    }
    expect(got.size).toBe(want.length);
  });

  it.each(['pop3s', 'pop3'] as const)('%s: one INBOX equal to doveadm', async (tls) => {
    const res = await runCli(['ls', pop3Url(user, { tls }), ...ca(), '--json'], env());
    expect(res.code).toBe(0);
    const got = parseLs(res.stdout);
    const inbox = (await mailboxStatus(rig(), user)).find((s) => s.folder === 'INBOX')!;
    expect([...got.keys()]).toEqual(['INBOX']);
    expect(got.get('INBOX')).toEqual({ messages: inbox.messages, bytes: inbox.vsize });
  });

  it('the human table lists every folder with a total', async () => {
    const res = await runCli(['ls', imapUrl(user), ...ca()], env());
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^Entwürfe\s+5\s+\d+/m);
    expect(res.stdout).toMatch(/^Sent\s+12\s+\d+\s+\\Sent/m);
    expect(res.stdout).toMatch(/^total\s+\d+/m);
  });

  it.each([
    ['imaps', () => imapUrl(user, { tls: 'imaps' })],
    ['pop3s', () => pop3Url(user, { tls: 'pop3s' })],
  ])('%s: a wrong password exits 3 with one line and no secret', async (_n, url) => {
    const res = await runCli(['ls', url(), ...ca()], { MAILFERRY_SOURCE_PASSWORD: 'Wr0ng-Pa55word' });
    expect(res.code).toBe(3);
    expect(errorLines(res.stderr)).toHaveLength(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/rejected/);
    expect(res.stderr).toMatch(/app password|OAuth2/);
    expect(res.stderr).not.toContain('Wr0ng-Pa55word');
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });

  it('an untrusted certificate without --ca-file exits 3 and names the fix', async () => {
    const res = await runCli(['ls', imapUrl(user, { tls: 'imaps' })], env());
    expect(res.code).toBe(3);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/certificate/);
    expect(res.stderr).toMatch(/--ca-file/);
  });

  it('--ca-file adds to the trusted roots: a CA that did not sign the server is still refused', async () => {
    // A bundled root: trusted anyway, and no help with the rig's self-signed certificate.
    const other = join(mkdtempSync(join(tmpdir(), 'mf-ca-')), 'other.pem');
    writeFileSync(other, rootCertificates[0]!);
    const res = await runCli(['ls', imapUrl(user, { tls: 'imaps' }), '--ca-file', other], env());
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/certificate/);
    const both = await runCli(
      ['ls', imapUrl(user, { tls: 'imaps' }), '--ca-file', other, '--ca-file', rig().caFile, '--json'],
      env(),
    );
    expect(both.code, both.stderr).toBe(0);
  });

  it('--insecure connects without the CA and warns', async () => {
    const res = await runCli(['ls', imapUrl(user, { tls: 'imaps' }), '--insecure', '--json'], env());
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/--insecure/);
    expect(parseLs(res.stdout).get('INBOX')?.messages).toBeGreaterThan(0);
  });

  it('a password inside the URL works, draws a warning, and is never printed', async () => {
    const url = imapUrl(user).replace(
      `${encodeURIComponent(user)}@`,
      `${encodeURIComponent(user)}:${password}@`,
    );
    const res = await runCli(['ls', url, ...ca(), '--json'], {});
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/inside the URL/);
    expect(res.stderr).not.toContain(password);
  });

  it('a malformed URL exits 2; an unreachable port exits 3', async () => {
    const bad = await runCli(['ls', 'imaps//nobody'], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const refused = await runCli(['ls', `imap://${user}@127.0.0.1:1`], env());
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/refused/);
  });
});

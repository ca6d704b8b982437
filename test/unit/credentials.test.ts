import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveAuth, SecretRegistry } from '../../src/credentials.js';
import { parseEndpoint, type ServerEndpoint } from '../../src/endpoint.js';
import { createLogger, redact } from '../../src/util/log.js';

const ep = (u = 'imaps://me@mail.example') => parseEndpoint(u) as ServerEndpoint;

describe('credentials', () => {
  it('prefers the OAuth2 command and runs it at every connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-cred-'));
    const counter = join(dir, 'n');
    writeFileSync(counter, '0');
    const cmd = `n=$(cat ${counter}); n=$((n+1)); echo $n > ${counter}; echo token-$n`;
    const secrets = new SecretRegistry();
    const auth = resolveAuth(
      'source',
      ep(),
      { oauth2Command: cmd, env: { MAILFERRY_SOURCE_PASSWORD: 'pw' } },
      secrets,
    );
    expect(await auth()).toEqual({ method: 'xoauth2', user: 'me', secret: 'token-1' });
    expect((await auth()).secret).toBe('token-2');
    expect(secrets.list()).toContain('token-2');
  });

  it('reads the first line of a password file, then the environment, then the URL with a warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-cred-'));
    writeFileSync(join(dir, 'pw'), 'from-file\n');
    const s = new SecretRegistry();
    expect((await resolveAuth('sink', ep(), { passwordFile: join(dir, 'pw'), env: {} }, s)()).secret).toBe(
      'from-file',
    );
    expect(
      (await resolveAuth('sink', ep(), { env: { MAILFERRY_SINK_PASSWORD: 'from-env' } }, s)()).secret,
    ).toBe('from-env');
    const warnings: string[] = [];
    const a = resolveAuth('sink', ep('imaps://me:in-url@h'), { env: {}, warn: (l) => warnings.push(l) }, s);
    expect((await a()).secret).toBe('in-url');
    expect(warnings[0]).toMatch(/inside the URL/);
    expect(warnings[0]).not.toContain('in-url');
  });

  it('fails with a usage error naming the ways to give a password', () => {
    expect(() => resolveAuth('source', ep(), { env: {} }, new SecretRegistry())).toThrow(
      expect.objectContaining({
        exitCode: 2,
        message: expect.stringMatching(/no password for the source/),
        hint: expect.stringMatching(/MAILFERRY_SOURCE_PASSWORD/),
      }),
    );
  });

  it('a failing token command is an auth error without the command output', async () => {
    const auth = resolveAuth('source', ep(), { oauth2Command: 'exit 3' }, new SecretRegistry());
    await expect(auth()).rejects.toMatchObject({ code: 'EAUTH', exitCode: 3 });
  });

  it('the logger scrubs every registered secret, in stderr and in the log file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-log-'));
    const lines: string[] = [];
    const s = new SecretRegistry();
    s.add('hunter22');
    const log = createLogger({
      verbose: true,
      logFile: join(dir, 'log'),
      secrets: () => s.list(),
      stderr: (l) => lines.push(l),
    });
    log.warn('server said: bad password hunter22 for imaps://me:hunter22@h');
    expect(lines.join('\n')).not.toContain('hunter22');
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(dir, 'log'), 'utf8')).not.toContain('hunter22');
    expect(redact('x://u:p@h', [])).toBe('x://u:***@h');
  });
});

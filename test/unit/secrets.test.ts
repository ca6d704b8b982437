import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { checkTransferOptions, defaultTransferOptions } from '../../src/config.js';
import { resolveAuth } from '../../src/credentials.js';
import { parseEndpoint, type ServerEndpoint } from '../../src/endpoint.js';
import { mapImapError } from '../../src/imap/errors.js';
import { Pop3Client } from '../../src/pop3/client.js';
import { waitFor } from '../../src/run/retry.js';
import { TokenBucket } from '../../src/run/throttle.js';
import { childEnv, SecretRegistry, scrub, secretForms } from '../../src/util/secrets.js';
import { type FakePop3, startFakePop3 } from './pop3-fake-server.js';

const ep = (u = 'imaps://me@mail.example') => parseEndpoint(u) as ServerEndpoint;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('no CR, LF or NUL in a credential', () => {
  const injected = 'pw\r\nDELE 1\r\nDELE 2\r\nQUIT';

  it('refuses one from the environment at once, naming where it came from but not its value', () => {
    const env = { MAILFERRY_SOURCE_PASSWORD: injected };
    let err: unknown;
    try {
      resolveAuth('source', ep(), { env }, new SecretRegistry());
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      exitCode: 2,
      message: 'the source password in MAILFERRY_SOURCE_PASSWORD contains a line break or NUL character',
    });
  });

  it('refuses a lone CR or a NUL in a password file line, and one typed at the prompt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-sec-'));
    writeFileSync(join(dir, 'pw'), 'pw\rDELE 1\n');
    expect(() => resolveAuth('sink', ep(), { passwordFile: join(dir, 'pw') }, new SecretRegistry())).toThrow(
      /sink password in .* contains a line break/,
    );
    const auth = resolveAuth('sink', ep(), { env: {}, prompt: async () => 'pw\0x' }, new SecretRegistry());
    await expect(auth()).rejects.toMatchObject({ exitCode: 2 });
  });

  it('refuses a URL with a percent-encoded or raw line break in user, password or folder', () => {
    for (const url of [
      'imaps://me%0D%0ADELE@h',
      'imaps://me:pw%0D%0AA1%20DELETE%20INBOX@h',
      'imaps://me@h/INBOX%0ADELETE',
      'pop3s://me%00x@h',
      'imaps://me@h/IN\r\nBOX',
    ]) {
      expect(() => parseEndpoint(url), url).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
    expect(() => parseEndpoint('imaps://me:pw%0D%0Ax@h')).toThrow(/^the password in 'imaps:\/\/me:\*\*\*@h'/);
  });

  it('an OAuth2 token: exactly one trailing line end is dropped, any other break is exit 2', async () => {
    const s = new SecretRegistry();
    const ok = resolveAuth('source', ep(), { oauth2Command: "printf 'tok-1\\r\\n'" }, s);
    expect((await ok()).secret).toBe('tok-1');
    const two = resolveAuth('source', ep(), { oauth2Command: "printf 'tok-1\\n\\n'" }, s);
    await expect(two()).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/line break/) });
    const inner = resolveAuth('source', ep(), { oauth2Command: "printf 'tok\\nA1 DELETE INBOX'" }, s);
    await expect(inner()).rejects.toMatchObject({ exitCode: 2 });
  });

  it('refuses CR/LF in --folder, --map, --include and --exclude, and values out of range', () => {
    const bad = [
      { folder: 'IN\r\nBOX' },
      { map: ['a=b\nc'] },
      { include: ['x\0'] },
      { exclude: ['\r'] },
      { retries: -1 },
      { retries: 1.5 },
      { connections: 100_000 },
      { connections: 0 },
      { maxMessagesPerSecond: 1e-9 },
      { maxMessagesPerSecond: Number.NaN },
      { maxMessagesPerSecond: Number.POSITIVE_INFINITY },
      { maxBytesPerSecond: 0 },
      { maxThrottleMs: -1 },
    ];
    for (const over of bad) {
      expect(() => checkTransferOptions(defaultTransferOptions(over)), JSON.stringify(over)).toThrow(
        expect.objectContaining({ exitCode: 2 }),
      );
    }
    expect(() => checkTransferOptions(defaultTransferOptions({ connections: 100_000 }))).toThrow(
      expect.objectContaining({
        message: 'bad --connections 100000',
        hint: 'give a whole number from 1 to 64',
      }),
    );
    const fine = { connections: 64, retries: 0, maxMessagesPerSecond: 0.001, maxBytesPerSecond: 1 };
    expect(checkTransferOptions(defaultTransferOptions(fine))).toMatchObject(fine);
  });
});

describe('the wire never writes a command with a line break inside', () => {
  let server: FakePop3 | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it('a POP3 password that slipped past the checks is refused at the command writer', async () => {
    server = await startFakePop3({
      messages: [Buffer.from('Subject: a\r\n\r\nx\r\n')],
      capa: ['USER', 'UIDL'],
    });
    const endpoint = parseEndpoint(`pop3://demo@127.0.0.1:${server.port}`) as ServerEndpoint;
    const secret = 'secret\r\nDELE 1\r\nQUIT';
    const connecting = Pop3Client.connect({
      server: {
        endpoint,
        auth: async () => ({ method: 'password', user: 'demo', secret }),
        tls: { insecure: false },
        allowPlaintext: false,
        timeoutMs: 5000,
      },
    });
    await expect(connecting).rejects.toMatchObject({ code: 'EPROTOCOL' });
    await expect(connecting).rejects.not.toMatchObject({ message: expect.stringContaining('secret') });
    expect(server.commands).not.toContain('DELE 1');
    expect(server.commands.some((c) => c.startsWith('PASS'))).toBe(false);
  });
});

describe('one scrubber for every server text', () => {
  it('knows the AUTH PLAIN and XOAUTH2 encodings of a secret', () => {
    const forms = secretForms('hunter22', 'me');
    expect(forms).toContain(b64('\0me\0hunter22'));
    expect(forms).toContain(b64('me\0me\0hunter22'));
    expect(forms).toContain(b64('user=me\x01auth=Bearer hunter22\x01\x01'));
    const text = `NO [AUTHENTICATIONFAILED] got ${b64('me\0me\0hunter22')} i.e. hunter22`;
    expect(scrub(text, forms)).toBe('NO [AUTHENTICATIONFAILED] got *** i.e. ***');
  });

  it('the registry also scrubs a secret as JSON spells it', () => {
    const s = new SecretRegistry();
    s.add('pa"ss\\word', 'me');
    expect(s.scrub(JSON.stringify({ reason: 'bad pa"ss\\word' }))).toBe('{"reason":"bad ***"}');
  });

  it('the IMAP error mapper scrubs a password the server repeats in its refusal', () => {
    const refusal = Object.assign(new Error('Authentication failed'), {
      authenticationFailed: true,
      responseStatus: 'NO',
      responseText: `[AUTHENTICATIONFAILED] LOGIN me hunter22 ${b64('\0me\0hunter22')} rejected`,
    });
    const err = mapImapError(refusal, {
      endpoint: ep(),
      op: 'connect',
      secrets: secretForms('hunter22', 'me'),
    });
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain('LOGIN me *** *** rejected');
    expect(err.stack).not.toContain('hunter22');
  });
});

describe('child processes', () => {
  it('get our environment without MAILFERRY_*_PASSWORD', () => {
    const env = childEnv({
      PATH: '/bin',
      MAILFERRY_SOURCE_PASSWORD: 'a',
      MAILFERRY_SINK_PASSWORD: 'b',
      HOME: '/h',
    });
    expect(env).toEqual({ PATH: '/bin', HOME: '/h' });
  });

  it('the token command sees no password in its environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-sec-'));
    const cmd = `cat /proc/$$/environ > ${dir}/environ; echo tok-x`;
    const env = {
      ...process.env,
      MAILFERRY_SOURCE_PASSWORD: 'src-pw-abc',
      MAILFERRY_SINK_PASSWORD: 'dst-pw-abc',
    };
    await resolveAuth('source', ep(), { oauth2Command: cmd, env }, new SecretRegistry())();
    const seen = readFileSync(join(dir, 'environ'), 'latin1');
    expect(seen).toContain('PATH=');
    expect(seen).not.toContain('src-pw-abc');
    expect(seen).not.toContain('dst-pw-abc');
  });
});

describe('long waits never fire at once', () => {
  const pendingAfter = async (p: Promise<unknown>, ms: number) =>
    Promise.race([p.then(() => 'settled'), delay(ms).then(() => 'pending')]);

  it('a back-off longer than a timer can hold still waits', async () => {
    const stop = new AbortController();
    // 999999999 s as a hostile "Suggested Backoff Time" would become.
    expect(await pendingAfter(waitFor(999_999_999_000, stop.signal), 100)).toBe('pending');
    stop.abort();
  });

  it('a byte rate of 1 per second holds back even a small chunk', async () => {
    const bucket = new TokenBucket(1);
    expect(await pendingAfter(bucket.take(100), 100)).toBe('pending');
  });
});

import { describe, expect, it } from 'vitest';
import { describeEndpoint, parseEndpoint, redactUrl } from '../../src/endpoint.js';
import { UsageError } from '../../src/errors.js';

describe('parseEndpoint', () => {
  it('fills default ports and TLS mode per scheme', () => {
    expect(parseEndpoint('imaps://me@mail.example')).toMatchObject({
      kind: 'imap',
      secure: true,
      port: 993,
      user: 'me',
    });
    expect(parseEndpoint('imap://me@mail.example')).toMatchObject({ kind: 'imap', secure: false, port: 143 });
    expect(parseEndpoint('pop3s://me@mail.example')).toMatchObject({ kind: 'pop3', secure: true, port: 995 });
    expect(parseEndpoint('pop3://me@mail.example:1110')).toMatchObject({
      kind: 'pop3',
      secure: false,
      port: 1110,
    });
  });

  it('decodes a percent-encoded @ in the user name and a folder path', () => {
    const e = parseEndpoint('imaps://me%40example.com@imap.example.com/Archive/2002');
    expect(e).toMatchObject({ user: 'me@example.com', host: 'imap.example.com', folder: 'Archive/2002' });
    expect(parseEndpoint('imaps://u@h/Entw%C3%BCrfe')).toMatchObject({ folder: 'Entwürfe' });
  });

  it('parses file endpoints', () => {
    expect(parseEndpoint('mbox:/tmp/backup')).toEqual({ kind: 'mbox', path: '/tmp/backup' });
    expect(parseEndpoint('zip:backup.zip')).toEqual({ kind: 'zip', path: 'backup.zip' });
  });

  it('keeps a URL password but never prints it', () => {
    const e = parseEndpoint('imaps://me:s3cret@h');
    expect(e).toMatchObject({ urlPassword: 's3cret' });
    expect(describeEndpoint(e)).not.toContain('s3cret');
    expect(redactUrl('imaps://me:s3cret@h')).toBe('imaps://me:***@h');
  });

  it.each([
    ['imaps://mail.example', /no user name/],
    ['ftp://me@h', /unknown scheme 'ftp'/],
    ['me@h', /no scheme/],
    ['zip:', /no path/],
    ['pop3://me@h/INBOX', /POP3 has no folders/],
    ['imaps://me@h:99999', /not a valid URL/],
    ['imaps://me@h/x?y=1', /unexpected/],
    ['imaps://me%zz@h', /percent-encoding/],
  ])('rejects %s with one line naming the problem', (text, why) => {
    let err: unknown;
    try {
      parseEndpoint(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(why);
    expect((err as Error).message).not.toContain('\n');
  });

  it('never echoes a password from a malformed URL', () => {
    expect(() => parseEndpoint('imaps://me:hunter2@')).toThrow(/^(?!.*hunter2)/);
  });
});

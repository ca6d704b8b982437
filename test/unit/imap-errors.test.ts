import { describe, expect, it } from 'vitest';
import type { ServerEndpoint } from '../../src/endpoint.js';
import { ConnectionError, FolderError, LimitError, MessageError } from '../../src/errors.js';
import { type ImapOp, mapImapError, serverText } from '../../src/imap/errors.js';
import { filterFlags } from '../../src/imap/flags.js';
import { expandUidSet } from '../../src/imap/multiappend.js';
import { messageIdOf } from '../../src/mail/headers.js';
import { inFolderScope, uidSet } from '../../src/stores/imap/source.js';

const endpoint: ServerEndpoint = {
  kind: 'imap',
  protocol: 'imaps',
  secure: true,
  host: 'mail.example.com',
  port: 993,
  user: 'me@example.com',
};

/** An error shaped like the ones imapflow rejects with for a tagged NO/BAD. */
function refusal(status: 'NO' | 'BAD', text: string, code?: string): Error {
  return Object.assign(new Error('Command failed'), {
    responseStatus: status,
    responseText: text,
    serverResponseCode: code,
  });
}

const map = (err: unknown, op: ImapOp = 'append') => mapImapError(err, { endpoint, op, folder: 'Archive' });

describe('mapImapError: sink limits and message refusals', () => {
  it('maps [OVERQUOTA] to a LimitError with exit code 4', () => {
    const e = map(refusal('NO', 'Quota exceeded (mailbox for user is full)', 'OVERQUOTA'));
    expect(e).toBeInstanceOf(LimitError);
    expect(e.code).toBe('EQUOTA');
    expect(e.exitCode).toBe(4);
    expect(e.message).toContain('Quota exceeded');
  });

  it('maps quota text without a response code to EQUOTA', () => {
    expect(map(refusal('NO', 'Mailbox is over quota')).code).toBe('EQUOTA');
  });

  it('maps [TOOBIG], APPENDLIMIT and a NO naming the size to ETOOBIG', () => {
    expect(map(refusal('NO', 'Message too big', 'TOOBIG'))).toBeInstanceOf(MessageError);
    expect(map(refusal('NO', 'Message too big', 'TOOBIG')).code).toBe('ETOOBIG');
    const local = Object.assign(new Error('Message content too big for APPENDLIMIT=1000'), {
      serverResponseCode: 'APPENDLIMIT',
    });
    expect(map(local).code).toBe('ETOOBIG');
    expect(map(refusal('NO', 'Message size exceeds fixed maximum message size')).code).toBe('ETOOBIG');
    expect(map(refusal('NO', 'Maximum message size is 35 MB')).code).toBe('ETOOBIG');
  });

  it('does not call a size-like NO on a folder command ETOOBIG', () => {
    const e = map(refusal('NO', 'Mailbox name too large'), 'folder');
    expect(e).toBeInstanceOf(FolderError);
    expect(e.code).toBe('EFOLDER');
  });

  it('maps any other NO on APPEND to EREJECTED with the server text', () => {
    const e = map(refusal('NO', 'Message contains invalid header'));
    expect(e).toBeInstanceOf(MessageError);
    expect(e.code).toBe('EREJECTED');
    expect(e.message).toContain('Message contains invalid header');
    expect(e.retryable).toBe(false);
  });

  it('maps a missing folder (TRYCREATE, mailboxMissing, NotFound) to ENOFOLDER', () => {
    expect(map(refusal('NO', 'Mailbox does not exist', 'TRYCREATE')).code).toBe('ENOFOLDER');
    const missing = Object.assign(refusal('NO', 'Mailbox does not exist'), { mailboxMissing: true });
    const e = map(missing, 'folder');
    expect(e).toBeInstanceOf(FolderError);
    expect(e.code).toBe('ENOFOLDER');
    expect(e.message).toContain("'Archive'");
    expect(
      map(Object.assign(new Error("Mailbox doesn't exist: X"), { code: 'NotFound' }), 'folder').code,
    ).toBe('ENOFOLDER');
  });
});

describe('mapImapError: throttling', () => {
  it.each(['THROTTLED', 'LIMIT', 'UNAVAILABLE'])('maps [%s] to a retryable ETHROTTLED', (code) => {
    const e = map(refusal('NO', 'Slow down', code));
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.code).toBe('ETHROTTLED');
    expect(e.retryable).toBe(true);
    expect(e.retryAfterMs).toBeUndefined();
  });

  it('reads an APPEND refused with [LIMIT] for its size as too big, not as throttling', () => {
    // Dovecot's answer to a message over quota_max_mail_size, also inside a MULTIAPPEND.
    const text = 'Mail size is larger than the maximum size allowed by server configuration';
    const e = map(refusal('NO', text, 'LIMIT'));
    expect(e.code).toBe('ETOOBIG');
    expect(e.retryable).toBe(false);
    expect(map(refusal('NO', text, 'LIMIT'), 'message').code).toBe('ETHROTTLED');
  });

  it('finds the code of a FETCH refusal that imapflow rethrows as the parsed response', () => {
    // The shape imapflow's fetch path raises: no serverResponseCode, the code only in the section.
    const err = Object.assign(new Error('Command failed'), {
      response: {
        tag: 'A7',
        command: 'NO',
        attributes: [
          { type: 'SECTION', section: [{ type: 'ATOM', value: 'UNAVAILABLE' }] },
          { type: 'TEXT', value: 'Temporary failure, try again' },
        ],
      },
    });
    const e = map(err, 'message');
    expect(e.code).toBe('ETHROTTLED');
    expect(e.retryable).toBe(true);
  });

  it('reads the Microsoft backoff hint as retryAfterMs', () => {
    const e = map(refusal('BAD', 'Request is throttled. Suggested Backoff Time: 92415 milliseconds'));
    expect(e.code).toBe('ETHROTTLED');
    expect(e.retryAfterMs).toBe(92415);
  });

  it("subtracts the part of imapflow's ETHROTTLE wait already spent", () => {
    const err = Object.assign(
      refusal('BAD', 'Request is throttled. Suggested Backoff Time: 5000 milliseconds'),
      {
        code: 'ETHROTTLE',
        throttleReset: 5000,
        throttleWaited: 2000,
      },
    );
    expect(map(err).retryAfterMs).toBe(3000);
  });

  it('maps the Gmail bandwidth limit and a BYE about too many connections', () => {
    expect(map(refusal('NO', '[ALERT] Account exceeded command or bandwidth limits.')).code).toBe(
      'ETHROTTLED',
    );
    const bye = Object.assign(new Error('Connection not available'), {
      code: 'NoConnection',
      reason: 'Too many connections from your IP',
    });
    const e = map(bye, 'connect');
    expect(e.code).toBe('ETHROTTLED');
    expect(e.exitCode).toBe(3);
  });

  it('prefers throttling over a login refusal', () => {
    const err = Object.assign(refusal('NO', 'Too many simultaneous connections', 'UNAVAILABLE'), {
      authenticationFailed: true,
    });
    expect(map(err, 'connect').code).toBe('ETHROTTLED');
  });
});

describe('mapImapError: connections', () => {
  it('maps a failed login to EAUTH without the password', () => {
    const err = Object.assign(new Error('Command failed'), {
      authenticationFailed: true,
      responseStatus: 'NO',
      response: 'A3 NO [AUTHENTICATIONFAILED] Authentication failed.',
      serverResponseCode: 'AUTHENTICATIONFAILED',
    });
    const e = map(err, 'connect');
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.code).toBe('EAUTH');
    expect(e.exitCode).toBe(3);
    expect(e.retryable).toBe(false);
    expect(e.message).toBe('login as me@example.com at mail.example.com rejected: Authentication failed.');
  });

  it('maps a lost connection mid-command to a retryable ECLOSED, and a reset to ECONNRESET', () => {
    const gone = map(Object.assign(new Error('Connection not available'), { code: 'NoConnection' }));
    expect(gone.code).toBe('ECLOSED');
    expect(gone.retryable).toBe(true);
    expect(map(Object.assign(new Error('Connection closed'), { code: 'EConnectionClosed' })).code).toBe(
      'ECLOSED',
    );
    const reset = map(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    expect(reset.code).toBe('ECONNRESET');
    expect(reset.retryable).toBe(true);
  });

  it('maps an untrusted certificate to ECERT with the --ca-file hint', () => {
    const err = Object.assign(new Error('self-signed certificate'), {
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      tlsFailed: true,
    });
    const e = map(err, 'connect');
    expect(e.code).toBe('ECERT');
    expect(e.retryable).toBe(false);
    expect(e.hint).toContain('--ca-file');
    expect(e.hint).toContain('--insecure');
  });

  it('maps imapflow timeouts to ETIMEDOUT and unknown command refusals to EPROTOCOL', () => {
    expect(map(Object.assign(new Error('Timeout'), { code: 'GREETING_TIMEOUT' }), 'connect').code).toBe(
      'ETIMEDOUT',
    );
    const e = map(refusal('BAD', 'Unknown command'), 'session');
    expect(e.code).toBe('EPROTOCOL');
    expect(e.message).toContain('Unknown command');
  });

  it('passes mailferry errors through unchanged', () => {
    const own = new LimitError('ELIMIT', 'daily limit');
    expect(map(own)).toBe(own);
  });

  it('takes server text from the raw response when imapflow gave no responseText', () => {
    expect(serverText({ response: 'A1 NO [OVERQUOTA] Quota exceeded' })).toBe('Quota exceeded');
    expect(serverText({ reason: '  Server   shutting down ' })).toBe('Server shutting down');
  });
});

describe('IMAP adapter helpers', () => {
  it('parses a folded Message-ID without angle brackets', () => {
    expect(messageIdOf(Buffer.from('Message-ID:\r\n <abc.123@example.com>\r\n\r\n'))).toBe(
      'abc.123@example.com',
    );
    expect(messageIdOf(Buffer.from('message-id: bare@id\r\n\r\n'))).toBe('bare@id');
    expect(messageIdOf(Buffer.from('\r\n'))).toBeUndefined();
    expect(messageIdOf(Buffer.from('Message-ID: <>\r\n'))).toBeUndefined();
  });

  it('keeps keywords only when PERMANENTFLAGS allows them, and never sends \\Recent', () => {
    const flags = ['\\seen', '\\Recent', '$Forwarded', 'Work', 'bad flag'];
    expect(filterFlags(flags, new Set(['\\Seen', '\\*']))).toEqual({
      keep: ['\\Seen', '$Forwarded', 'Work'],
      dropped: ['bad flag'],
    });
    expect(filterFlags(flags, new Set(['\\Seen', 'Work']))).toEqual({
      keep: ['\\Seen', 'Work'],
      dropped: ['$Forwarded', 'bad flag'],
    });
    expect(filterFlags(['\\Draft', 'Work'], undefined).keep).toEqual(['\\Draft', 'Work']);
    expect(filterFlags(['\\Draft'], new Set(['\\*'])).dropped).toEqual(['\\Draft']);
  });

  it('expands an APPENDUID uid-set; a reversed range names the same UIDs, ascending', () => {
    expect(expandUidSet('5:7,9')).toEqual([5, 6, 7, 9]);
    expect(expandUidSet('7:5,9')).toEqual([5, 6, 7, 9]);
    expect(expandUidSet('42')).toEqual([42]);
    expect(expandUidSet('1,3:4,10:8')).toEqual([1, 3, 4, 8, 9, 10]);
  });

  it.each(['', '*', 'abc', '0', '5:', ':5', '5:x', '5,,6', '5:7,*'])(
    'expands the malformed uid-set %j to nothing, so no message gets a wrong UID',
    (set) => {
      expect(expandUidSet(set)).toEqual([]);
    },
  );

  it('compacts UID sets', () => {
    expect(uidSet([7, 1, 2, 3, 9, 10, 3])).toBe('1:3,7,9:10');
    expect(uidSet([42])).toBe('42');
  });

  it('limits a source URL folder to that folder and its children', () => {
    const f = (name: string) => ({ name, delimiter: '/' });
    expect(inFolderScope(f('Archive'), 'Archive')).toBe(true);
    expect(inFolderScope(f('Archive/2020'), 'Archive')).toBe(true);
    expect(inFolderScope(f('Archived'), 'Archive')).toBe(false);
    expect(inFolderScope(f('INBOX'), 'inbox')).toBe(true);
    expect(inFolderScope(f('INBOX/Sub'), 'inbox')).toBe(true);
  });
});

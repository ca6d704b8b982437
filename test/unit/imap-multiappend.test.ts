import type { ImapFlow } from 'imapflow';
import { describe, expect, it } from 'vitest';
import { createSpecialUse, multiAppend, multiAppendAttributes } from '../../src/imap/multiappend.js';

interface Sent {
  command: string;
  attributes: unknown[];
}

/** Just what imapflow's path helpers and runner read, and a runner that answers like a server. */
function fakeClient(
  caps: string[],
  answer: () => Promise<unknown>,
  prefix = '',
): { client: ImapFlow; sent: Sent[] } {
  const sent: Sent[] = [];
  const client = {
    capabilities: new Map(caps.map((c) => [c, true])),
    enabled: new Set<string>(),
    namespace: { prefix, delimiter: '/' },
    async exec(command: string, attributes: unknown[]) {
      sent.push({ command, attributes });
      return answer();
    },
  };
  return { client: client as unknown as ImapFlow, sent };
}

const ok = (section?: Array<{ value: string }>) => async () => ({
  response: { attributes: section ? [{ section }] : [] },
  next: () => undefined,
});

describe('MULTIAPPEND command', () => {
  it('names the mailbox once (prefixed, modified UTF-7), then flags, date and literal per message', () => {
    const { client } = fakeClient([], ok(), 'INBOX.');
    const attrs = multiAppendAttributes(client, 'Entwürfe', [
      { flags: ['\\Seen'], internalDate: new Date('2024-03-01T10:00:00Z'), data: Buffer.from('a\r\n') },
      { flags: [], data: Buffer.from('b\r\n') },
    ]);
    expect(attrs[0]).toEqual({ type: 'ATOM', value: 'INBOX.Entw&APw-rfe' });
    expect(attrs[1]).toEqual([{ type: 'ATOM', value: '\\Seen' }]);
    expect(attrs[2]).toMatchObject({ type: 'STRING' });
    expect(String((attrs[2] as { value: string }).value)).toContain('2024');
    expect(attrs[3]).toEqual({ type: 'LITERAL', value: Buffer.from('a\r\n'), isLiteral8: false });
    // The second message has no date: flags then literal.
    expect(attrs[4]).toEqual([]);
    expect(attrs[5]).toMatchObject({ type: 'LITERAL' });
    expect(attrs).toHaveLength(6);
  });

  it('sends a literal holding NUL as literal8 only where the server offers BINARY', () => {
    const nul = [{ flags: [], data: Buffer.from('a\0b\r\n') }];
    const plain = multiAppendAttributes(fakeClient([], ok()).client, 'INBOX', nul);
    const binary = multiAppendAttributes(fakeClient(['BINARY'], ok()).client, 'INBOX', nul);
    expect(plain[2]).toMatchObject({ isLiteral8: false });
    expect(binary[2]).toMatchObject({ isLiteral8: true });
  });

  it('returns the APPENDUID set in message order, and [] when it does not fit the batch', async () => {
    const msgs = [1, 2, 3].map((n) => ({ flags: [], data: Buffer.from(`${n}\r\n`) }));
    const uidplus = fakeClient([], ok([{ value: 'APPENDUID' }, { value: '7' }, { value: '10:12' }]));
    expect(await multiAppend(uidplus.client, 'INBOX', msgs)).toEqual([10, 11, 12]);
    expect(uidplus.sent[0]!.command).toBe('APPEND');
    const tooMany = fakeClient([], ok([{ value: 'APPENDUID' }, { value: '7' }, { value: '1:9' }]));
    expect(await multiAppend(tooMany.client, 'INBOX', msgs)).toEqual([]);
    expect(await multiAppend(fakeClient([], ok()).client, 'INBOX', msgs)).toEqual([]);
  });

  it('passes a refusal on: the server stored none of the batch', async () => {
    const refused = fakeClient([], async () => {
      throw Object.assign(new Error('NO too big'), { responseStatus: 'NO' });
    });
    await expect(
      multiAppend(refused.client, 'INBOX', [{ flags: [], data: Buffer.from('x') }]),
    ).rejects.toThrow('NO too big');
  });
});

describe('CREATE with a special use', () => {
  it('sends the USE list, and says false on NO but throws anything else', async () => {
    const yes = fakeClient([], ok());
    expect(await createSpecialUse(yes.client, 'Sent', '\\Sent')).toBe(true);
    expect(yes.sent[0]).toEqual({
      command: 'CREATE',
      attributes: [
        { type: 'ATOM', value: 'Sent' },
        [{ type: 'ATOM', value: 'USE' }, [{ type: 'ATOM', value: '\\Sent' }]],
      ],
    });
    const no = fakeClient([], async () => {
      throw Object.assign(new Error('NO use taken'), { responseStatus: 'NO' });
    });
    expect(await createSpecialUse(no.client, 'Sent', '\\Sent')).toBe(false);
    const bad = fakeClient([], async () => {
      throw Object.assign(new Error('BAD'), { responseStatus: 'BAD' });
    });
    await expect(createSpecialUse(bad.client, 'Sent', '\\Sent')).rejects.toThrow('BAD');
  });
});

import { describe, expect, it } from 'vitest';
import { diffFolder } from '../../src/plan/diff.js';
import type { FolderInventory, MessageMeta } from '../../src/types.js';

const at = (iso: string) => new Date(iso);
const msg = (id: string, size: number, date: string, mid?: string): MessageMeta => ({
  id,
  size,
  flags: [],
  internalDate: at(date),
  ...(mid ? { messageId: mid } : {}),
});
const inv = (messages: MessageMeta[]): FolderInventory => ({
  folder: { name: 'INBOX', delimiter: '/' },
  messages,
});
const diff = (src: MessageMeta[], sink: MessageMeta[]) =>
  diffFolder(inv(src), inv(sink), new Map(), { compareFlags: false });

const T = '2026-12-03T13:00:00Z';

describe('a copy without Message-ID that the server rewrote (Courier)', () => {
  it('is present when the sink holds it at the same internal date and a near size', () => {
    // Courier stores an empty message as CRLF (0 → 2 bytes) and drops the lone CRs of a
    // bare-CR message, whose header then yields no Message-ID (175 → 164 bytes).
    const d = diff([msg('empty', 0, T), msg('bare-cr', 175, T)], [msg('1', 2, T), msg('2', 164, T)]);
    expect(d.copy).toEqual([]);
    expect(d.present.map((p) => [p.id, p.sinkId])).toEqual([
      ['empty', '1'],
      ['bare-cr', '2'],
    ]);
  });

  it('an exact copy is taken first, so the rewritten one still pairs (CRLF-only beside empty)', () => {
    const d = diff([msg('empty', 0, T), msg('crlf-only', 2, T)], [msg('1', 2, T), msg('2', 2, T)]);
    expect(d.copy).toEqual([]);
    expect(d.present.map((p) => p.id).sort()).toEqual(['crlf-only', 'empty']);
  });

  it('is copied when the internal date differs, the size is far off, or the sink copy has a Message-ID', () => {
    expect(diff([msg('a', 0, T)], [msg('1', 2, '2026-12-03T13:00:01Z')]).copy).toHaveLength(1);
    expect(diff([msg('a', 100, T)], [msg('1', 5000, T)]).copy).toHaveLength(1);
    expect(diff([msg('a', 100, T)], [msg('1', 102, T, 'x@y')]).copy).toHaveLength(1);
  });

  it('takes each sink copy once: two sources, one rewritten copy, one is copied', () => {
    const d = diff([msg('a', 0, T), msg('b', 0, T)], [msg('1', 2, T)]);
    expect(d.copy.map((c) => c.id)).toEqual(['b']);
  });
});

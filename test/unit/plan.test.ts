import { describe, expect, it } from 'vitest';
import { diffFolder, normalizeFlags } from '../../src/plan/diff.js';
import { convertName, globToRegExp, mapFolders } from '../../src/plan/folders.js';
import { identityKey, KeyBag, normalizeMessageId } from '../../src/plan/identity.js';
import type { FolderInfo, FolderInventory, MessageMeta } from '../../src/types.js';

const folder = (name: string, extra: Partial<FolderInfo> = {}): FolderInfo => ({
  name,
  delimiter: '/',
  ...extra,
});
const msg = (id: string, mid: string | undefined, size: number, flags: string[] = []): MessageMeta => ({
  id,
  size,
  flags,
  internalDate: new Date('2020-01-01T00:00:00Z'),
  ...(mid ? { messageId: mid } : {}),
});
const inv = (messages: MessageMeta[]): FolderInventory => ({ folder: folder('INBOX'), messages });
const opts = { include: [], exclude: [], map: [], folder: 'INBOX', includeAllMail: false };

describe('identity', () => {
  it('normalises Message-IDs', () => {
    expect(normalizeMessageId(' <a@b> ')).toBe('a@b');
    expect(normalizeMessageId('')).toBeUndefined();
  });
  it('keys on Message-ID and size, else size and date', () => {
    expect(identityKey(msg('1', 'a@b', 10))).toBe('mid:a@b:10');
    expect(identityKey(msg('1', undefined, 10))).toBe('nomid:10:1577836800');
    expect(identityKey({ size: 10, sha256: 'ff' })).toBe('sha:ff');
  });
  it('KeyBag takes one copy per source copy', () => {
    const bag = KeyBag.of(['a', 'a', 'b']);
    expect([bag.take('a'), bag.take('a'), bag.take('a'), bag.take('b'), bag.take('c')]).toEqual([
      true,
      true,
      false,
      true,
      false,
    ]);
  });
});

describe('diffFolder', () => {
  it('is a multiset match: duplicates at the source need as many copies at the sink', () => {
    const src = inv([msg('1', 'x@y', 5), msg('2', 'x@y', 5), msg('3', 'z@y', 7)]);
    const sink = inv([msg('100', 'x@y', 5)]);
    const d = diffFolder(src, sink, new Map(), { compareFlags: false });
    expect(d.present.map((p) => p.id)).toEqual(['1']);
    expect(d.copy.map((c) => c.id)).toEqual(['2', '3']);
  });

  it('does not match the same Message-ID with a clearly different size', () => {
    const d = diffFolder(inv([msg('1', 'x@y', 5000)]), inv([msg('9', 'x@y', 9000)]), new Map(), {
      compareFlags: false,
    });
    expect(d.copy).toHaveLength(1);
  });

  it('matches a copy the server shrank by rewriting line endings (same Message-ID, near size)', () => {
    // Dovecot stores CR CR LF as CR LF: a 3144-byte source comes back as 3119 bytes.
    const pop = { id: 'UIDL9', size: 3144, flags: [] };
    const known = new Map([['UIDL9', { key: 'mid:3b62@wanadoo.fr:3144' }]]);
    const d = diffFolder(inv([pop]), inv([msg('4', '3b62@wanadoo.fr', 3119)]), known, {
      compareFlags: false,
    });
    expect(d.copy).toEqual([]);
    expect(d.present).toEqual([{ id: 'UIDL9', sinkId: '4', key: 'mid:3b62@wanadoo.fr:3144' }]);
  });

  it('uses keys an earlier run recorded for sources without identity (POP3)', () => {
    const pop = { id: 'UIDL1', size: 5, flags: [] };
    const sink = inv([msg('7', 'x@y', 5)]);
    const d = diffFolder(inv([pop]), sink, new Map([['UIDL1', { key: 'mid:x@y:5', sinkId: '7' }]]), {
      compareFlags: false,
    });
    expect(d.present).toEqual([{ id: 'UIDL1', sinkId: '7', key: 'mid:x@y:5' }]);
  });

  it('reports flag changes for matched messages, ignoring \\Recent and order', () => {
    const src = inv([msg('1', 'a@b', 5, ['\\Seen', '\\Flagged']), msg('2', 'c@d', 5, ['\\Seen'])]);
    const sink = inv([msg('10', 'a@b', 5, ['\\Seen']), msg('11', 'c@d', 5, ['\\Recent', '\\Seen'])]);
    const d = diffFolder(src, sink, new Map(), { compareFlags: true });
    expect(d.flagUpdates).toEqual([{ id: '1', sinkId: '10', flags: ['\\Flagged', '\\Seen'] }]);
    expect(normalizeFlags(['\\Recent', 'b', 'a', 'a'])).toEqual(['a', 'b']);
  });

  it('copies everything when the sink folder does not exist', () => {
    const d = diffFolder(inv([msg('1', 'a@b', 1), msg('2', undefined, 2)]), undefined, new Map(), {
      compareFlags: true,
    });
    expect(d.copy.map((c) => c.key)).toEqual(['mid:a@b:1', 'nomid:2:1577836800']);
  });
});

describe('folder mapping', () => {
  const sink = [
    folder('INBOX', { delimiter: '.' }),
    folder('Sent Items', { delimiter: '.', specialUse: '\\Sent' }),
    folder('Spam', { delimiter: '.' }),
  ];

  it('maps special-use folders by attribute, then by well-known name', () => {
    const src = [
      folder('INBOX'),
      folder('Sent', { specialUse: '\\Sent' }),
      folder('Junk', { specialUse: '\\Junk' }),
    ];
    const m = mapFolders(src, sink, '.', true, opts);
    expect(m.map((x) => [x.source.name, x.target.name, x.create])).toEqual([
      ['INBOX', 'INBOX', false],
      ['Sent', 'Sent Items', false],
      ['Junk', 'Spam', false],
    ]);
  });

  it('re-spells names across delimiters and keeps non-ASCII names', () => {
    expect(convertName('Archive/2002', '/', '.')).toBe('Archive.2002');
    expect(convertName('a.b/c', '/', '.')).toBe('a\uff0eb.c');
    expect(convertName('inbox', '/', '.')).toBe('INBOX');
    const m = mapFolders([folder('Archive/Entwürfe')], sink, '.', true, opts);
    expect(m[0]).toMatchObject({ target: { name: 'Archive.Entwürfe' }, create: true });
  });

  it('applies include, exclude and --map', () => {
    const src = [folder('INBOX'), folder('Lists/a'), folder('Lists/b'), folder('Old')];
    const m = mapFolders(src, sink, '.', true, {
      ...opts,
      include: ['INBOX', 'Lists/*', 'Old'],
      exclude: ['Lists/b'],
      map: ['Old=Archive/Old'],
    });
    expect(m.map((x) => x.target.name)).toEqual(['INBOX', 'Lists.a', 'Archive.Old']);
    expect(globToRegExp('Lists/%').test('Lists/a/b')).toBe(false);
  });

  it("leaves Gmail's All Mail out unless asked", () => {
    const src = [
      folder('INBOX'),
      folder('[Gmail]', { selectable: false }),
      folder('[Gmail]/All Mail', { specialUse: '\\All' }),
    ];
    expect(mapFolders(src, sink, '.', true, opts).map((x) => x.source.name)).toEqual(['INBOX']);
    expect(mapFolders(src, sink, '.', true, { ...opts, includeAllMail: true })).toHaveLength(2);
  });

  it('sends a folderless source (POP3) to --folder', () => {
    const m = mapFolders([folder('INBOX')], sink, '.', false, { ...opts, folder: 'Imported.POP' });
    expect(m[0]).toMatchObject({ target: { name: 'Imported.POP' }, create: true });
  });

  it('rejects a malformed --map', () => {
    expect(() => mapFolders([folder('INBOX')], sink, '.', true, { ...opts, map: ['nope'] })).toThrow(/--map/);
  });
});

import { describe, expect, it } from 'vitest';
import { type FolderMapOptions, mapFolders } from '../../src/plan/folders.js';
import type { FolderInfo, SpecialUse } from '../../src/types.js';

const opts: FolderMapOptions = { include: [], exclude: [], map: [], folder: 'INBOX', includeAllMail: false };
const f = (name: string, specialUse?: SpecialUse): FolderInfo => ({
  name,
  delimiter: '/',
  ...(specialUse && { specialUse }),
});

/** Gmail's LIST: special folders under [Gmail]/ with RFC 6154 attributes; labels at the top. */
const GMAIL: FolderInfo[] = [
  f('INBOX'),
  { name: '[Gmail]', delimiter: '/', selectable: false },
  f('[Gmail]/All Mail', '\\All'),
  f('[Gmail]/Drafts', '\\Drafts'),
  f('[Gmail]/Sent Mail', '\\Sent'),
  f('[Gmail]/Spam', '\\Junk'),
  f('[Gmail]/Starred', '\\Flagged'),
  f('[Gmail]/Trash', '\\Trash'),
  f('Old Label'),
];

describe('Gmail as a sink', () => {
  it('maps special folders by special-use into [Gmail]/..., the archive into All Mail, other folders to labels', () => {
    const src = [
      f('INBOX'),
      f('Sent Items', '\\Sent'),
      f('Drafts', '\\Drafts'),
      f('Deleted Items', '\\Trash'),
      f('Junk E-mail', '\\Junk'),
      f('Archive', '\\Archive'),
      f('Projects/2024'),
      f('Old Label'),
    ];
    const got = mapFolders(src, GMAIL, '/', true, opts).map((m) => [m.source.name, m.target.name, m.create]);
    expect(got).toEqual([
      ['INBOX', 'INBOX', false],
      ['Sent Items', '[Gmail]/Sent Mail', false],
      ['Drafts', '[Gmail]/Drafts', false],
      ['Deleted Items', '[Gmail]/Trash', false],
      ['Junk E-mail', '[Gmail]/Spam', false],
      ['Archive', '[Gmail]/All Mail', false],
      // A label per folder, nested labels as Gmail spells them.
      ['Projects/2024', 'Projects/2024', true],
      ['Old Label', 'Old Label', false],
    ]);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/diff.js';
import {
  type FolderMapOptions,
  folderName,
  logicalPath,
  mapFolders,
  standIn,
} from '../../src/plan/folders.js';
import { formatPlan } from '../../src/plan/format.js';
import type { FolderInfo, FolderNamespace } from '../../src/types.js';

/** Cyrus/Courier default: everything under INBOX., '.' between levels. */
const CYRUS: FolderNamespace = { prefix: 'INBOX.', delimiter: '.' };
/** Dovecot default: no prefix, '/' between levels. */
const DOVECOT: FolderNamespace = { prefix: '', delimiter: '/' };
const opts: FolderMapOptions = { include: [], exclude: [], map: [], folder: 'INBOX', includeAllMail: false };

const on = (ns: FolderNamespace, names: string[], extra: Record<string, Partial<FolderInfo>> = {}) =>
  names.map((name): FolderInfo => ({ name, delimiter: ns.delimiter, ...extra[name] }));

function targets(src: FolderInfo[], from: FolderNamespace, sink: FolderInfo[], to: FolderNamespace) {
  return mapFolders(src, sink, to, true, opts, from).map((m) => [m.source.name, m.target.name, m.create]);
}

describe('logical folder paths through NAMESPACE', () => {
  it('strips the personal prefix and splits by the delimiter', () => {
    expect(logicalPath('INBOX.Archive.2023', CYRUS)).toEqual(['Archive', '2023']);
    expect(logicalPath('Archive/2023', DOVECOT)).toEqual(['Archive', '2023']);
    expect(logicalPath('INBOX', CYRUS)).toEqual(['INBOX']);
    expect(logicalPath('inbox', DOVECOT)).toEqual(['INBOX']);
    expect(folderName(['Archive', '2023'], CYRUS)).toBe('INBOX.Archive.2023');
    expect(folderName(['Archive', '2023'], DOVECOT)).toBe('Archive/2023');
    expect(folderName(['INBOX'], CYRUS)).toBe('INBOX');
  });

  it('writes the other side’s delimiter inside a name as its full-width form, and reads it back', () => {
    expect(standIn('.')).toBe('\uff0e');
    expect(standIn('/')).toBe('\uff0f');
    const dotted = folderName(logicalPath('Projects/v1.2', DOVECOT), CYRUS);
    expect(dotted).toBe('INBOX.Projects.v1\uff0e2');
    expect(folderName(logicalPath(dotted, CYRUS), DOVECOT)).toBe('Projects/v1.2');
    const slashed = folderName(logicalPath('INBOX.a/b', CYRUS), DOVECOT);
    expect(slashed).toBe('a\uff0fb');
    expect(folderName(logicalPath(slashed, DOVECOT), CYRUS)).toBe('INBOX.a/b');
    // A full-width dot typed by a user on Dovecot is no stand-in there: kept as it is.
    expect(folderName(logicalPath('x\uff0ey', DOVECOT), DOVECOT)).toBe('x\uff0ey');
  });

  it('round-trips any name Dovecot -> Cyrus -> Dovecot and Cyrus -> Dovecot -> Cyrus', () => {
    const seg = fc.stringMatching(/^[A-Za-z0-9 ._\-/äß]{1,8}$/);
    fc.assert(
      fc.property(
        fc.array(
          seg.filter((s) => !s.includes('/')),
          { minLength: 1, maxLength: 4 },
        ),
        (segs) => {
          fc.pre(segs[0]!.toUpperCase() !== 'INBOX');
          const dove = segs.join('/');
          const cyrus = folderName(logicalPath(dove, DOVECOT), CYRUS);
          expect(cyrus.startsWith('INBOX.')).toBe(true);
          expect(folderName(logicalPath(cyrus, CYRUS), DOVECOT)).toBe(dove);
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.array(
          seg.filter((s) => !s.includes('.')),
          { minLength: 1, maxLength: 4 },
        ),
        (segs) => {
          const cyrus = `INBOX.${segs.join('.')}`;
          const dove = folderName(logicalPath(cyrus, CYRUS), DOVECOT);
          expect(folderName(logicalPath(dove, DOVECOT), CYRUS)).toBe(cyrus);
        },
      ),
    );
  });
});

describe('mapping folders between namespaces', () => {
  const cyrusSink = on(CYRUS, ['INBOX', 'INBOX.Sent', 'INBOX.Archive', 'INBOX.Archive.2023'], {
    'INBOX.Sent': { specialUse: '\\Sent' },
  });

  it('Dovecot -> Cyrus: a re-run finds the nested folders the first run created', () => {
    const src = on(DOVECOT, ['INBOX', 'Sent', 'Archive', 'Archive/2023', 'New/Child'], {
      Sent: { specialUse: '\\Sent' },
    });
    expect(targets(src, DOVECOT, cyrusSink, CYRUS)).toEqual([
      ['INBOX', 'INBOX', false],
      ['Sent', 'INBOX.Sent', false],
      ['Archive', 'INBOX.Archive', false],
      ['Archive/2023', 'INBOX.Archive.2023', false],
      ['New/Child', 'INBOX.New.Child', true],
    ]);
  });

  it('Cyrus -> Dovecot: nothing nests under INBOX/', () => {
    const dovecotSink = on(DOVECOT, ['INBOX', 'Sent'], { Sent: { specialUse: '\\Sent' } });
    expect(targets(cyrusSink, CYRUS, dovecotSink, DOVECOT)).toEqual([
      ['INBOX', 'INBOX', false],
      ['INBOX.Sent', 'Sent', false],
      ['INBOX.Archive', 'Archive', true],
      ['INBOX.Archive.2023', 'Archive/2023', true],
    ]);
  });

  it('Cyrus -> zip backup: no extra INBOX/ level', () => {
    const zip: FolderNamespace = { prefix: '', delimiter: '/' };
    const names = mapFolders(cyrusSink, [], zip, true, opts, CYRUS).map((m) => m.target.name);
    expect(names).toEqual(['INBOX', 'Sent', 'Archive', 'Archive/2023']);
  });

  it('keeps case-distinct folders apart, with INBOX the one case-insensitive name', () => {
    const src = on(DOVECOT, ['inbox', 'case', 'Case', 'Case/sub']);
    const sink = on(DOVECOT, ['INBOX', 'case']);
    expect(targets(src, DOVECOT, sink, DOVECOT)).toEqual([
      ['inbox', 'INBOX', false],
      ['case', 'case', false],
      ['Case', 'Case', true],
      ['Case/sub', 'Case/sub', true],
    ]);
    expect(targets(src, DOVECOT, on(CYRUS, ['INBOX', 'INBOX.Case']), CYRUS)).toEqual([
      ['inbox', 'INBOX', false],
      ['case', 'INBOX.case', true],
      ['Case', 'INBOX.Case', false],
      ['Case/sub', 'INBOX.Case.sub', true],
    ]);
  });

  it('keeps special-use for folders it will create, and finds one by its logical well-known name', () => {
    const src = on(DOVECOT, ['Sent', 'Drafts'], {
      Sent: { specialUse: '\\Sent' },
      Drafts: { specialUse: '\\Drafts' },
    });
    const sink = on(CYRUS, ['INBOX', 'INBOX.Drafts']);
    const m = mapFolders(src, sink, CYRUS, true, opts, DOVECOT);
    expect(m.map((x) => [x.target.name, x.target.specialUse, x.create])).toEqual([
      ['INBOX.Sent', '\\Sent', true],
      ['INBOX.Drafts', '\\Drafts', false],
    ]);
  });

  it('--include and --map take names as ls shows them, or as logical paths', () => {
    const src = on(CYRUS, ['INBOX', 'INBOX.Lists.a', 'INBOX.Old', 'INBOX.case']);
    const m = mapFolders(
      src,
      [],
      DOVECOT,
      true,
      { ...opts, include: ['INBOX', 'Lists.%', 'INBOX.Old', 'Case'], map: ['Old=Archive.Old'] },
      CYRUS,
    );
    expect(m.map((x) => x.target.name)).toEqual(['INBOX', 'Lists/a', 'Archive/Old']);
  });

  it('POP3 --folder gets the sink prefix', () => {
    const pop = [{ name: 'INBOX', delimiter: '/' }];
    expect(mapFolders(pop, [], CYRUS, false, { ...opts, folder: 'Imported' })[0]!.target.name).toBe(
      'INBOX.Imported',
    );
    expect(mapFolders(pop, [], CYRUS, false, opts)[0]!.target.name).toBe('INBOX');
  });
});

describe('the plan says how a delimiter inside a name is written', () => {
  it('notes the full-width stand-in under the folder it applies to', () => {
    const [m] = mapFolders(on(DOVECOT, ['v1.2']), [], CYRUS, true, opts, DOVECOT);
    const plan: Plan = {
      version: 1,
      source: 'a',
      sink: 'b',
      createdAt: '',
      folders: [{ ...m!, copy: [], present: [], flagUpdates: [], skipped: [] }],
      totals: { folders: 1, copy: 0, copyBytes: 0, present: 0, flagUpdates: 0, skipped: 0 },
    };
    const text = formatPlan(plan);
    expect(text).toContain('INBOX.v1\uff0e2');
    expect(text).toContain("'.' inside a name is written '\uff0e' (U+FF0E)");
    const plain = {
      ...plan,
      folders: [{ ...plan.folders[0]!, target: { name: 'INBOX.x', delimiter: '.' } }],
    };
    expect(formatPlan(plain)).not.toContain('inside a name');
  });
});

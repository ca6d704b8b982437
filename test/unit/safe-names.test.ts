import { describe, expect, it } from 'vitest';
import {
  collisionKey,
  isSafeRelativePath,
  SafePathAllocator,
  safeFolderPath,
  safeSegment,
} from '../../src/mail/safe-names.js';

describe('safeFolderPath', () => {
  it('keeps ordinary names and splits on the delimiter', () => {
    expect(safeFolderPath('INBOX', '/')).toEqual(['INBOX']);
    expect(safeFolderPath('Archive.2023.Q1', '.')).toEqual(['Archive', '2023', 'Q1']);
    expect(safeFolderPath('Gesendete Objekte/Privé', '/')).toEqual(['Gesendete Objekte', 'Privé']);
  });

  it('never produces a segment that navigates or is absolute', () => {
    for (const name of [
      '..',
      '.',
      '/etc/passwd',
      '../../x',
      'a/../../b',
      '',
      'C:\\Windows',
      '\\\\server\\share',
    ]) {
      const segs = safeFolderPath(name, '/');
      expect(isSafeRelativePath(segs.join('/')), `${name} -> ${segs.join('/')}`).toBe(true);
    }
    expect(safeFolderPath('..', '/')).toEqual(['%2E%2E']);
    expect(safeFolderPath('/abs', '/')).toEqual(['%empty', 'abs']);
  });

  it('encodes characters Windows forbids, a backslash, and device names', () => {
    expect(safeSegment('a\\b')).toBe('a%5Cb');
    expect(safeSegment('what?*')).toBe('what%3F%2A');
    expect(safeSegment('x:y')).toBe('x%3Ay');
    expect(safeSegment('CON')).not.toMatch(/^con$/i);
    expect(safeSegment('nul.txt')).not.toMatch(/^nul\./i);
    expect(safeSegment('COM1')).not.toMatch(/^com1$/i);
    expect(safeSegment('Console')).toBe('Console');
    expect(safeSegment('trailing. ')).toBe('trailing%2E%20');
    expect(safeSegment('tab\there')).toBe('tab%09here');
  });

  it('is injective: a literal % is escaped, so an escape cannot be forged', () => {
    expect(safeSegment('a%5Cb')).toBe('a%255Cb');
    expect(safeSegment('a%5Cb')).not.toBe(safeSegment('a\\b'));
    const names = ['a', 'a.', 'a%2E', '..', '%2E%2E', 'CON', 'C%4FN', 'x/y', 'x%2Fy', ''];
    const out = names.map(safeSegment);
    expect(new Set(out).size).toBe(names.length);
  });

  it('bounds long names and keeps them distinct', () => {
    const a = safeSegment(`${'é'.repeat(300)}a`);
    const b = safeSegment(`${'é'.repeat(300)}b`);
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(210);
    expect(a).not.toBe(b);
  });
});

describe('isSafeRelativePath', () => {
  it('accepts plain relative paths', () => {
    expect(isSafeRelativePath('INBOX/000001.eml')).toBe(true);
    expect(isSafeRelativePath('Sent Items/a b/1.eml')).toBe(true);
  });

  it('rejects anything that could escape or misbehave on some OS', () => {
    for (const p of [
      '../evil.eml',
      '/abs.eml',
      'C:\\x.eml',
      'C:x.eml',
      'a/../../b.eml',
      'a//b',
      'a/./b',
      'a\\b',
      '',
      'CON/x.eml',
      'a/b:stream',
      'x\u0000y',
    ]) {
      expect(isSafeRelativePath(p), p).toBe(false);
    }
  });
});

describe('SafePathAllocator', () => {
  it('gives names differing only by case distinct, stable paths', () => {
    const a = new SafePathAllocator();
    const first = a.claim('INBOX', '/');
    const second = a.claim('Inbox', '/');
    const third = a.claim('inbox', '/');
    expect(first).toEqual(['INBOX']);
    const keys = [first, second, third].map(collisionKey);
    expect(new Set(keys).size).toBe(3);
    // Same folder, same path, in another allocator with the same clash.
    const b = new SafePathAllocator();
    b.claim('INBOX', '/');
    expect(b.claim('Inbox', '/')).toEqual(second);
    expect(a.claim('Inbox', '/')).toEqual(second);
  });

  it('keeps a folder under the directory of its own parent, not a case twin', () => {
    const a = new SafePathAllocator();
    a.claim('INBOX', '/');
    const child = a.claim('inbox/Sub', '/');
    expect(child[0]).not.toBe('INBOX');
    expect(child[0]).toBe(a.claim('inbox', '/')[0]);
    expect(a.claim('INBOX/Sub', '/')[0]).toBe('INBOX');
  });

  it('honours reserved mappings and reserved segments', () => {
    const a = new SafePathAllocator({
      isReserved: (seg, depth) => depth === 0 && seg.toLowerCase() === 'manifest',
    });
    a.reserve(['Inbox'], ['Inbox']);
    expect(a.claim('INBOX', '/')).not.toEqual(['INBOX'].map((s) => s.toLowerCase()));
    expect(collisionKey(a.claim('INBOX', '/'))).not.toBe('inbox');
    expect(a.claim('Manifest', '/')[0]).toMatch(/^Manifest~[0-9a-f]{8}$/);
    expect(a.claim('x/manifest', '/')).toEqual(['x', 'manifest']);
  });
});

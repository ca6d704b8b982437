import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { status } from '../../src/commands/status.js';
import { UsageError } from '../../src/errors.js';
import { Checkpoint, pairDir } from '../../src/run/checkpoint.js';

const SRC = 'pop3s://me@127.0.0.1:995';
const DST = 'imaps://me@127.0.0.1:993';

describe('checkpoint journal', () => {
  it('replays done, deleted and folder records across loads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-cp-'));
    const cp = Checkpoint.load(dir, SRC, DST);
    cp.open(SRC, DST);
    cp.append({ t: 'intent', f: 'INBOX', id: 'u1' });
    cp.append({ t: 'done', f: 'INBOX', id: 'u1', key: 'mid:a@b:10', to: 'INBOX', sid: '5', size: 10 });
    cp.append({ t: 'intent', f: 'INBOX', id: 'u2' });
    cp.append({ t: 'deleted', f: 'INBOX', ids: ['u1'] });
    cp.append({ t: 'folder', f: 'INBOX', status: { messages: 2, uidValidity: '7', uidNext: 3 } });
    cp.close();
    const again = Checkpoint.load(dir, SRC, DST);
    expect(again.state.knownIn('INBOX').get('u1')).toEqual({ key: 'mid:a@b:10', sinkId: '5' });
    expect([...(again.state.inFlight.get('INBOX') ?? [])]).toEqual(['u2']);
    expect(again.state.deleted.get('INBOX')?.has('u1')).toBe(true);
    expect(again.state.folders.get('INBOX')?.status.uidNext).toBe(3);
    expect(statSync(join(pairDir(dir, SRC, DST), 'journal.jsonl')).mode & 0o777).toBe(0o600);
  });

  it('drops a torn last line and appends on a fresh line after it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-cp-'));
    const cp = Checkpoint.load(dir, SRC, DST);
    cp.open(SRC, DST);
    cp.append({ t: 'done', f: 'INBOX', id: 'u1', key: 'k1', to: 'INBOX', size: 1 }, true);
    cp.close();
    const file = join(pairDir(dir, SRC, DST), 'journal.jsonl');
    appendFileSync(file, '{"t":"done","f":"INBOX","id":"u2","ke');
    const resumed = Checkpoint.load(dir, SRC, DST);
    expect(resumed.state.knownIn('INBOX').has('u2')).toBe(false);
    resumed.open(SRC, DST);
    resumed.append({ t: 'done', f: 'INBOX', id: 'u3', key: 'k3', to: 'INBOX', size: 1 }, true);
    resumed.close();
    const last = Checkpoint.load(dir, SRC, DST);
    expect([...last.state.knownIn('INBOX').keys()]).toEqual(['u1', 'u3']);
    expect(readFileSync(file, 'utf8')).not.toContain('"ke\n');
  });

  it('refuses a journal damaged in the middle with a usage error (exit 2)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-cp-'));
    const cp = Checkpoint.load(dir, SRC, DST);
    cp.open(SRC, DST);
    cp.close();
    const file = join(pairDir(dir, SRC, DST), 'journal.jsonl');
    writeFileSync(file, `garbage\n${readFileSync(file, 'utf8')}`);
    let err: unknown;
    try {
      Checkpoint.load(dir, SRC, DST);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/corrupt checkpoint .* line 1/);
  });

  it('names the state directory by the endpoints, never by a secret, and status lists it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-cp-'));
    const cp = Checkpoint.load(dir, SRC, DST);
    cp.open(SRC, DST);
    cp.append({ t: 'end', at: new Date().toISOString(), copied: 0, failed: 0, exit: 0 });
    cp.close();
    expect(pairDir(dir, SRC, DST)).toBe(pairDir(dir, SRC, DST));
    expect(pairDir(dir, SRC, DST)).not.toBe(pairDir(dir, DST, SRC));
    const [entry] = status(dir);
    expect(entry).toMatchObject({ source: SRC, sink: DST, state: 'finished', runs: 1 });
  });
});

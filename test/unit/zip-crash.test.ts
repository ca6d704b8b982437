import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWithAllReaders, corpusMessages, crashMessage, sha256 } from './fixtures/zip-check.js';

const CHILD = fileURLToPath(new URL('./fixtures/zip-writer-child.ts', import.meta.url));
const COUNT = 80;
const messages = corpusMessages(120);

interface ChildRun {
  skip: number;
  /** Corpus indexes whose append resolved, in order. */
  done: number[];
  closing: boolean;
  killed: boolean;
}

type KillPoint = { word: 'done' | 'chunk' | 'big'; nth: number } | { word: 'closing'; nth: 1 };

/** Run the child; SIGKILL it on the nth line starting with the kill point's word. */
function runChild(path: string, count: number, killAt?: KillPoint): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, String(count)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run: ChildRun = { skip: -1, done: [], closing: false, killed: false };
    let seen = 0;
    let buf = '';
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.stdout.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const [word, n] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        if (word === 'skip') run.skip = Number(n);
        if (word === 'done') run.done.push(Number(n));
        if (word === 'closing') run.closing = true;
        if (killAt && word === killAt.word && ++seen === killAt.nth && !run.killed)
          run.killed = child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (killAt !== undefined && signal === 'SIGKILL') resolve(run);
      else if (code === 0) resolve(run);
      else reject(new Error(`child exited ${code ?? signal}: ${stderr}`));
    });
  });
}

/** Corpus indexes the journal holds (what a resumed run must not write again). */
async function journaled(path: string): Promise<number[]> {
  const text = await readFile(`${path}.journal`, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { t: string; meta?: { messageId?: string } })
    .filter((r) => r.t === 'entry' && r.meta?.messageId)
    .map((r) => Number(/corpus-(\d+)@/.exec(r.meta!.messageId!)![1]));
}

/** Bytes after the last journaled entry: a partial entry or directory the next open must cut off. */
async function tornBytes(path: string): Promise<number> {
  const lines = (await readFile(`${path}.journal`, 'utf8')).split('\n').filter((l) => l.startsWith('{'));
  const ends = lines.map((l) => JSON.parse(l) as { t: string; end?: number }).filter((r) => r.t === 'entry');
  return (await stat(path)).size - (ends[ends.length - 1]?.end ?? 0);
}

/** Every corpus message 0..count-1 is in the archive exactly once, byte for byte. */
async function expectComplete(path: string, count: number): Promise<void> {
  const { digests } = await checkWithAllReaders(path);
  const eml = [...digests.entries()].filter(([name]) => name.endsWith('.eml'));
  expect(eml).toHaveLength(count);
  const want = messages.slice(0, count).map((_, i) => sha256(crashMessage(messages, i)));
  expect(eml.map(([, d]) => d).sort()).toEqual([...want].sort());
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailferry-zip-crash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('zip sink crash and resume (real child processes, SIGKILL)', () => {
  // 'done': just after a group commit; 'chunk': inside a small entry (still in memory);
  // 'big': inside a large entry, part of it on disk; 'closing': at the central directory.
  const killPoints: KillPoint[] = [
    { word: 'done', nth: 1 },
    { word: 'chunk', nth: 12 },
    { word: 'big', nth: 1 },
    { word: 'done', nth: 37 },
    { word: 'closing', nth: 1 },
  ];
  for (const killAt of killPoints) {
    const label = `${killAt.word} #${killAt.nth}`;
    it(`resumes after a kill at ${label}`, async () => {
      const path = join(dir, `kill-${killAt.word}-${killAt.nth}.zip`);
      const first = await runChild(path, COUNT, killAt);
      expect(first.killed).toBe(true);
      const before = await journaled(path);
      const cut = await tornBytes(path);
      if (killAt.word === 'big') expect(cut).toBeGreaterThanOrEqual(1 << 20);
      // Every acknowledged append is in the journal: the executor may rely on it.
      expect(new Set(before)).toEqual(new Set([...before, ...first.done]));

      const second = await runChild(path, COUNT);
      // The resumed run skipped everything journaled and wrote only the rest: nothing twice.
      expect(second.skip).toBe(before.length);
      expect(second.done.filter((i) => before.includes(i))).toEqual([]);
      expect(new Set([...before, ...second.done]).size).toBe(COUNT);
      await expectComplete(path, COUNT);
      const rewritten = COUNT - before.length;
      console.log(
        `kill at ${label}: ${first.done.length} acknowledged, ${before.length} journaled, ` +
          `${cut} torn bytes cut, resumed run wrote ${rewritten} (0 of the journaled)`,
      );
    });
  }
});

describe('zip sink incremental runs', () => {
  it('appends only new mail to a finished archive; a run with nothing new leaves it untouched', async () => {
    const path = join(dir, 'incremental.zip');
    const first = await runChild(path, 60);
    expect(first.done).toHaveLength(60);
    await expectComplete(path, 60);

    const second = await runChild(path, 100);
    expect(second.skip).toBe(60);
    expect(second.done).toHaveLength(40);
    expect(second.done.every((i) => i >= 60)).toBe(true);
    await expectComplete(path, 100);

    const bytes = sha256(await readFile(path));
    const mtime = (await stat(path)).mtimeMs;
    const third = await runChild(path, 100);
    expect(third.skip).toBe(100);
    expect(third.done).toHaveLength(0);
    expect(sha256(await readFile(path))).toBe(bytes);
    expect((await stat(path)).mtimeMs).toBe(mtime);
  });
});

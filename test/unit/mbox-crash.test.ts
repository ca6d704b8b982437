import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointContext } from '../../src/context.js';
import { readSidecar } from '../../src/formats/mbox/sidecar.js';
import { openMboxSource } from '../../src/stores/mbox/source.js';
import { silentLogger } from '../../src/util/log.js';
import { crashMessage } from './fixtures/mbox-crash-messages.js';

const CHILD = fileURLToPath(new URL('./fixtures/mbox-writer-child.ts', import.meta.url));
const PY_CHECK = fileURLToPath(new URL('./fixtures/mbox-python-check.py', import.meta.url));
const COUNT = 60;

interface ChildRun {
  /** Progress lines seen (chunk and done). */
  lines: number;
  done: number;
  skip: number;
  wrote?: number;
  killed: boolean;
}

/** Run the writer child; SIGKILL it as soon as it has printed `killAt` progress lines. */
function runChild(root: string, killAt?: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root, String(COUNT)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run: ChildRun = { lines: 0, done: 0, skip: -1, killed: false };
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
        if (word === 'wrote') run.wrote = Number(n);
        if (word === 'done') run.done++;
        if ((word === 'done' || word === 'chunk') && ++run.lines === killAt && !run.killed) {
          run.killed = child.kill('SIGKILL');
        }
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

/** True when a kill left bytes no sidecar line covers (the next open must cut them off). */
async function hasTornTail(root: string): Promise<boolean> {
  for (const f of ['INBOX', 'Sent']) {
    const state = await readSidecar(join(root, `${f}.mbox.mailferry.jsonl`)).catch(() => undefined);
    const size = (await stat(join(root, `${f}.mbox`)).catch(() => undefined))?.size ?? 0;
    if (state && size > state.end) return true;
  }
  return false;
}

async function verify(root: string): Promise<void> {
  const ctx: EndpointContext = {
    endpoint: { kind: 'mbox', path: root },
    log: silentLogger,
    largeMessageBytes: 1,
  };
  const source = await openMboxSource(ctx);
  const seen: number[] = [];
  for (const folder of await source.listFolders()) {
    const inv = await source.inventory(folder);
    expect(inv.skipped).toBeUndefined();
    for (const m of inv.messages) {
      const i = Number(m.messageId!.split('@')[0]);
      seen.push(i);
      const chunks: Buffer[] = [];
      for await (const c of await source.open(folder, m)) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(crashMessage(i)), `message ${i}`).toBe(true);
    }
  }
  await source.close();
  expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: COUNT }, (_, i) => i));
  const py = JSON.parse(
    execFileSync('python3', [PY_CHECK, join(root, 'INBOX.mbox'), join(root, 'Sent.mbox')], {
      encoding: 'utf8',
    }),
  ) as Record<string, Array<{ messageId: string }>>;
  const pyIds = Object.values(py)
    .flat()
    .map((r) => Number(/<(\d+)@/.exec(r.messageId)![1]));
  expect(pyIds.sort((a, b) => a - b)).toEqual(Array.from({ length: COUNT }, (_, i) => i));
}

describe('mbox sink: SIGKILL and resume from another process', () => {
  let base: string;
  const torn: boolean[] = [];
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'mf-crash-'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  for (const killAt of [1, 9, 23, 41, 77]) {
    it(`killed at progress line ${killAt}, resumed: each message exactly once`, async () => {
      const root = join(base, `k${killAt}`);
      const first = await runChild(root, killAt);
      expect(first.killed).toBe(true);
      expect(first.wrote).toBeUndefined();
      torn.push(await hasTornTail(root));
      const second = await runChild(root);
      // Everything acknowledged before the kill is kept and not written again.
      expect(second.skip).toBeGreaterThanOrEqual(first.done);
      expect(second.skip + second.wrote!).toBe(COUNT);
      expect(second.done).toBe(second.wrote);
      await verify(root);
    });
  }

  it('at least one kill landed in the middle of a message (the repair was exercised)', () => {
    expect(torn.length).toBe(5);
    expect(torn.some(Boolean)).toBe(true);
  });

  it('survives three kills in a row in the same directory', async () => {
    const root = join(base, 'chain');
    let acknowledged = 0;
    for (const killAt of [5, 9, 14]) {
      const run = await runChild(root, killAt);
      expect(run.skip).toBeGreaterThanOrEqual(acknowledged);
      acknowledged = run.skip + run.done;
    }
    const last = await runChild(root);
    expect(last.skip).toBeGreaterThanOrEqual(acknowledged);
    expect(last.skip + last.wrote!).toBe(COUNT);
    await verify(root);
  });
});

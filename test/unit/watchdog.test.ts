import { PassThrough, type Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Watchdog } from '../../src/run/watchdog.js';
import type { AppendInput, AppendResult, FolderInfo, MessageMeta } from '../../src/types.js';
import { corpusLike, MemorySink, MemorySource } from './fakes.js';
import { runExecutor } from './run-executor.js';

/** Message 2's body sends a few bytes and then nothing; message 3 never opens. */
class StallingSource extends MemorySource {
  opens: string[] = [];
  override async open(f: FolderInfo, m: MessageMeta): Promise<Readable> {
    this.opens.push(m.id);
    if (m.id === '3') return new Promise<Readable>(() => undefined);
    if (m.id !== '2') return super.open(f, m);
    const p = new PassThrough();
    p.write('Subject: half\r\n');
    return p;
  }
}

/** Never answers the APPEND of message 4, after reading its whole body. */
class SilentSink extends MemorySink {
  override async append(input: AppendInput): Promise<AppendResult> {
    if (input.meta.id !== '4') return super.append(input);
    for await (const _ of input.body) {
      // read it all, then say nothing
    }
    return new Promise<AppendResult>(() => undefined);
  }
}

async function run(source: MemorySource, sink: MemorySink, stallMs: number) {
  return (await runExecutor(source, sink, { retries: 1, stallMs })).result;
}

describe('the per-message watchdog', () => {
  it('fails each stalled message once with a reason, and copies the others', async () => {
    const source = new StallingSource(corpusLike(6));
    const sink = new SilentSink();
    const result = await run(source, sink, 200);
    expect(result.copied).toBe(3);
    expect(sink.stored.map((s) => s.meta.id).sort()).toEqual(['1', '5', '6']);
    const failed = result.failed.map((f) => [f.id, f.code]).sort();
    expect(failed).toEqual([
      ['2', 'ESTALLED'],
      ['3', 'ESTALLED'],
      ['4', 'ESTALLED'],
    ]);
    const reasons = Object.fromEntries(result.failed.map((f) => [f.id, f.reason]));
    expect(reasons['2']).toMatch(/no byte moved for 0\.2 s while copying it to the sink/);
    expect(reasons['3']).toMatch(/while opening it at the source/);
    expect(reasons['4']).toMatch(/while waiting for the sink to store it/);
    // Retried once (--retries 1) on a fresh session, then reported.
    expect(source.opens.sort()).toEqual(['1', '2', '2', '3', '3', '4', '4', '5', '6']);
  }, 10_000);

  it('does not fire while bytes keep moving, however long the whole message takes', async () => {
    const dog = new Watchdog(100);
    let beats = 0;
    const slow = new Promise<string>((resolve) => {
      const t = setInterval(() => {
        dog.touch();
        if (++beats === 8) {
          clearInterval(t);
          resolve('done');
        }
      }, 40);
    });
    await expect(dog.guard(slow)).resolves.toBe('done');
    dog.stop();
    expect(dog.error).toBeUndefined();
  });
});

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConnectionError, LimitError, MessageError } from '../../src/errors.js';
import { Checkpoint } from '../../src/run/checkpoint.js';
import { corpusLike, MemorySink, MemorySource } from './fakes.js';
import { inboxPlan, runExecutor } from './run-executor.js';

const run = (source: MemorySource, sink: MemorySink) => runExecutor(source, sink);

describe('executor', () => {
  it('copies bytes, flags and dates, and journals each message', async () => {
    const source = new MemorySource(corpusLike(20));
    const sink = new MemorySink();
    const { result, cp } = await run(source, sink);
    expect(result.copied).toBe(20);
    expect(sink.stored.map((s) => s.raw.toString())).toEqual(
      [...source.messages.values()].map((m) => m.raw.toString()),
    );
    expect(sink.stored[0]!.flags).toEqual(['\\Seen']);
    expect(sink.stored[0]!.date?.getTime()).toBe(1e12 + 1000);
    expect(cp.state.knownIn('INBOX').size).toBe(20);
  });

  it('retries a transient error on a fresh session and then succeeds', async () => {
    const source = new MemorySource(corpusLike(3));
    let fails = 2;
    source.failOpen = (id) =>
      id === '2' && fails-- > 0 ? new ConnectionError('ECONNRESET', 'reset') : undefined;
    const sink = new MemorySink();
    const { result } = await run(source, sink);
    expect(result.copied).toBe(3);
    expect(result.failed).toEqual([]);
    expect(source.opened).toBe(5);
  });

  it('settles an APPEND whose answer was lost by looking at the sink, never sending it twice', async () => {
    const source = new MemorySource(corpusLike(6));
    const sink = new MemorySink();
    let lost = 0;
    sink.loseAnswer = (id) => id === '4' && lost++ === 0;
    const { result, cp } = await run(source, sink);
    expect(lost).toBe(1);
    expect(result.copied).toBe(6);
    expect(sink.stored.filter((s) => s.meta.id === '4')).toHaveLength(1);
    expect(cp.state.knownIn('INBOX').get('4')?.sinkId).toBeDefined();
  });

  it('records a rejected message and carries on', async () => {
    const source = new MemorySource(corpusLike(5));
    const sink = new MemorySink();
    sink.failAppend = (id) => (id === '3' ? new MessageError('EREJECTED', 'server said no') : undefined);
    const { result } = await run(source, sink);
    expect(result.copied).toBe(4);
    expect(result.failed).toEqual([
      { folder: 'INBOX', id: '3', code: 'EREJECTED', reason: 'server said no' },
    ]);
  });

  it('stops the whole run on a full quota, keeping what was journaled', async () => {
    const source = new MemorySource(corpusLike(30));
    const sink = new MemorySink();
    sink.failAppend = () => (sink.stored.length >= 10 ? new LimitError('EQUOTA', 'quota full') : undefined);
    const { result, cp } = await run(source, sink);
    expect(result.stopped?.exitCode).toBe(4);
    expect(result.copied).toBe(10);
    expect(cp.state.knownIn('INBOX').size).toBe(10);
  });

  it('treats a sink that stored other bytes as a failure', async () => {
    const source = new MemorySource(corpusLike(1));
    const sink = new MemorySink();
    sink.corrupt = true;
    const { result } = await run(source, sink);
    expect(result.copied).toBe(0);
    expect(result.failed[0]?.code).toBe('EMISMATCH');
  });

  it('a second run over the result copies nothing', async () => {
    const source = new MemorySource(corpusLike(8));
    const sink = new MemorySink();
    await run(source, sink);
    const { result } = await run(source, sink);
    expect(result.copied).toBe(0);
    expect(sink.stored).toHaveLength(8);
  });
});

describe('executor after a crash', () => {
  it('looks for a message an earlier run sent without an answer before sending it again', async () => {
    const source = new MemorySource(corpusLike(5));
    const sink = new MemorySink();
    // The plan saw an empty sink; then the dead run's server finished storing message 3.
    const plan = await inboxPlan(source, sink);
    const late = source.messages.get('3')!;
    sink.stored.push({ folder: 'INBOX', raw: late.raw, flags: [], meta: late.meta });
    const dir = mkdtempSync(join(tmpdir(), 'mf-ex-'));
    const crashed = Checkpoint.load(dir, 's', 'd');
    crashed.open('s', 'd');
    for (const id of ['3', '4']) crashed.append({ t: 'intent', f: 'INBOX', id });
    crashed.close();
    const { result } = await runExecutor(source, sink, { plan, stateDir: dir });
    expect(result.copied).toBe(5);
    const ids = sink.stored.map((s) => s.meta.id).sort();
    expect(ids).toEqual(['1', '2', '3', '4', '5']);
  });
});

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { paceLargeWrites } from '../../src/util/paced-writes.js';

/** A socket that takes one chunk at a time and records what each write() call handed it. */
function recorder() {
  const calls: Buffer[] = [];
  const received: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, done) {
      received.push(chunk);
      setImmediate(done);
    },
  });
  const write = sink.write.bind(sink);
  sink.write = ((chunk: Buffer, ...rest: unknown[]) => {
    calls.push(chunk);
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as Writable['write'];
  return { sink, calls, received };
}

describe('paceLargeWrites', () => {
  it('hands a large chunk over in slices, keeps later writes behind it, and calls back once', async () => {
    const { sink, calls, received } = recorder();
    paceLargeWrites(sink);
    const big = Buffer.alloc(1024 * 1024 + 5, 7);
    let called = 0;
    sink.write(Buffer.from('A1 APPEND INBOX {1048581}\r\n'));
    sink.write(big, () => called++);
    sink.write(Buffer.from('\r\nA2 NOOP\r\n'));
    await new Promise((r) => setTimeout(r, 50));
    expect(called).toBe(1);
    expect(Math.max(...calls.map((c) => c.length))).toBeLessThanOrEqual(256 * 1024);
    expect(calls.length).toBe(1 + 5 + 1);
    const all = Buffer.concat(received).toString('latin1');
    expect(all.startsWith('A1 APPEND INBOX {1048581}\r\n')).toBe(true);
    expect(all.endsWith('\r\nA2 NOOP\r\n')).toBe(true);
    expect(all.length).toBe(27 + big.length + 11);
  });

  it('lets small writes on an idle socket through unchanged', () => {
    const { sink, calls } = recorder();
    paceLargeWrites(sink);
    sink.write(Buffer.from('A1 NOOP\r\n'));
    expect(calls.map((c) => c.toString())).toEqual(['A1 NOOP\r\n']);
  });
});

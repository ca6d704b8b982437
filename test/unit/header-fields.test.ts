import { describe, expect, it } from 'vitest';
import { HeaderFields, readHeaderFields } from '../../src/formats/mbox/mboxrd.js';

describe('readHeaderFields', () => {
  const noEnd = Buffer.from('Subject: s\r\nMessage-ID: <x@y>');

  it('reads the last field of a whole message whose header never ends', () => {
    const f = new HeaderFields(['subject', 'message-id']);
    readHeaderFields(f, noEnd, true);
    expect([f.get('subject'), f.get('message-id')]).toEqual(['s', '<x@y>']);
  });

  it('leaves a cut-off last line out when the buffer is only the start of the header', () => {
    const f = new HeaderFields(['message-id']);
    readHeaderFields(f, noEnd);
    expect(f.get('message-id')).toBeUndefined();
  });

  it('stops at the empty line, complete or not', () => {
    const f = new HeaderFields(['message-id']);
    readHeaderFields(f, Buffer.from('Subject: s\r\n\r\nMessage-ID: <body@y>'), true);
    expect(f.get('message-id')).toBeUndefined();
  });
});

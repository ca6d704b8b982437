import { describe, expect, it } from 'vitest';
import { parseAccounts } from '../../src/batch/accounts.js';
import { parseCsv } from '../../src/batch/csv.js';
import { HostLimiter, pairNeeds } from '../../src/batch/hosts.js';
import { pairCredentials } from '../../src/batch/pair.js';
import { UsageError } from '../../src/errors.js';

const HEAD = 'source,sink,source_auth,sink_auth,include,exclude,map,connections,name';

describe('accounts.csv', () => {
  it('reads quoted fields, lists and references', () => {
    const rows = parseCsv('a,"b,c","d ""e"""\r\n"x\ny",z\n');
    expect(rows).toEqual([
      ['a', 'b,c', 'd "e"'],
      ['x\ny', 'z'],
    ]);
    const [a] = parseAccounts(
      `${HEAD}\nimaps://u@h1,imaps://v@h2:1993,file:/run/pw,env:V_PW,"Work*;Lists",Trash,"Old=Archive/Old",3,alice\n`,
    );
    expect(a).toMatchObject({
      name: 'alice',
      sourceAuth: { kind: 'file', path: '/run/pw' },
      sinkAuth: { kind: 'env', name: 'V_PW' },
      include: ['Work*', 'Lists'],
      exclude: ['Trash'],
      map: ['Old=Archive/Old'],
      connections: 3,
      line: 2,
    });
    expect(a!.id).toMatch(/^[0-9a-f]{12}$/);
  });

  it('refuses a secret in the CSV without printing it', () => {
    const bad = [
      `${HEAD}\nimaps://u@h1,imaps://v@h2,hunter2secret,,,,,,\n`,
      `${HEAD}\nimaps://u:hunter2secret@h1,imaps://v@h2,,,,,,,\n`,
    ];
    for (const text of bad) {
      let err: unknown;
      try {
        parseAccounts(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect(String((err as Error).message)).not.toContain('hunter2secret');
    }
  });

  it('refuses a missing header, an unknown column and the same pair twice', () => {
    expect(() => parseAccounts('imaps://u@h1,imaps://v@h2\n')).toThrow(/first line/);
    expect(() => parseAccounts('source,sink,password\nimaps://u@h,imaps://v@h,x\n')).toThrow(
      /unknown column/,
    );
    expect(() => parseAccounts('source,sink\nimaps://u@h,imaps://v@h\nimaps://u@h,imaps://v@h\n')).toThrow(
      /same pair as line 2/,
    );
  });

  it('hands env: passwords to the library in memory and drops the named variables', () => {
    const [a] = parseAccounts(
      'source,sink,source_auth,sink_auth\nimaps://u@h,imaps://v@k,env:SRC_PW,oauth2:get-token\n',
    );
    const env = { SRC_PW: 'pw-source', MAILFERRY_SINK_PASSWORD: 'stale', PATH: '/bin' };
    const c = pairCredentials(a!, env);
    expect(c.env).toEqual({ MAILFERRY_SOURCE_PASSWORD: 'pw-source', PATH: '/bin' });
    expect(c.sinkCredentials).toEqual({ oauth2Command: 'get-token' });
    expect(() => pairCredentials(a!, {})).toThrow(/env:SRC_PW is not set/);
  });
});

describe('per-host cap', () => {
  it("counts a pair's connections on both its servers, twice on a shared one", () => {
    const [a, b] = parseAccounts(
      'source,sink,connections\nimaps://u@h1,imaps://v@h2,3\nimaps://u@h1,imaps://w@h1:993,4\n',
    );
    expect([...pairNeeds(a!, 3, 4).needs]).toEqual([
      ['h1:993', 3],
      ['h2:993', 3],
    ]);
    // Same server both sides: 2 x 4 would not fit under 4, so the pair runs with 2 a side.
    expect(pairNeeds(b!, 4, 4)).toEqual({ needs: new Map([['h1:993', 4]]), connections: 2 });
    expect(() => pairNeeds(b!, 1, 1)).toThrow(/--per-host 1/);
  });

  it('takes all slots of a pair or none, and keeps the peak', () => {
    const lim = new HostLimiter(4);
    const ab = new Map([
      ['a', 2],
      ['b', 2],
    ]);
    const bOnly = new Map([['b', 3]]);
    expect(lim.tryAcquire(ab)).toBe(true);
    expect(lim.tryAcquire(bOnly)).toBe(false);
    expect(lim.tryAcquire(new Map([['a', 2]]))).toBe(true);
    expect(lim.tryAcquire(new Map([['a', 1]]))).toBe(false);
    lim.release(ab);
    expect(lim.tryAcquire(bOnly)).toBe(true);
    expect(Object.fromEntries(lim.peak)).toEqual({ a: 4, b: 3 });
  });
});

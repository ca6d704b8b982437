import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyFrom, hostileDirs, spawnMeasured } from '../helpers/hostile-run.js';
import { type HostileServer, startHostileImap } from '../helpers/hostile-server.js';

const MiB = 1024 * 1024;

function fifo(dir: string, name: string): string {
  const path = join(dir, name);
  execFileSync('mkfifo', [path]);
  return path;
}

describe('paths that are not files, and stops that must stop', () => {
  let server: HostileServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it.each([
    [
      'a FIFO as the mbox source',
      (dir: string) => [`mbox:${fifo(dir, 'in.mbox')}`, `mbox:${join(dir, 'out')}`],
    ],
    ['/dev/zero as the mbox source', (dir: string) => ['mbox:/dev/zero', `mbox:${join(dir, 'out')}`]],
    ['a FIFO as the zip source', (dir: string) => [`zip:${fifo(dir, 'in.zip')}`, `mbox:${join(dir, 'out')}`]],
    ['a FIFO as the zip sink', (dir: string) => [`mbox:${join(dir, 'src')}`, `zip:${fifo(dir, 'out.zip')}`]],
  ])('%s is refused up front with exit 2', async (_name, endpoints) => {
    const d = hostileDirs('kind');
    mkdirSync(join(d.dir, 'src'));
    const [source, sink] = endpoints(d.dir);
    const res = await copyFrom(source!, sink!, d.state, [], {});
    expect(res.code, res.stderr).toBe(2);
    expect(res.lastError).toMatch(/is (a FIFO|a device), not a/);
    expect(res.stderr.split('\n').filter((l) => l.startsWith('mailferry:'))).toHaveLength(1);
  });

  it('a FIFO as the state directory is refused with exit 2', async () => {
    const d = hostileDirs('statefifo');
    mkdirSync(join(d.dir, 'src'));
    const res = await copyFrom(`mbox:${join(d.dir, 'src')}`, `mbox:${d.sink}`, fifo(d.dir, 'state'), [], {});
    expect(res.code, res.stderr).toBe(2);
    expect(res.lastError).toMatch(/state directory .* is a FIFO/);
  });

  it('a state directory under /proc fails at once instead of spinning in mkdir', async () => {
    const d = hostileDirs('stateproc');
    mkdirSync(join(d.dir, 'src'));
    const res = await copyFrom(
      `mbox:${join(d.dir, 'src')}`,
      `mbox:${d.sink}`,
      '/proc/self/mf-state/x',
      [],
      {},
    );
    expect(res.code, res.stderr).toBe(2);
    expect(res.lastError).toMatch(/cannot write the state directory \/proc\/self\/mf-state\/x\/\w+: ENOENT/);
  });

  it('SIGTERM ends a run whose message read never finishes, with exit 130', async () => {
    let fetched: () => void = () => undefined;
    const stalled = new Promise<void>((r) => {
      fetched = r;
    });
    const body = Buffer.from('Message-ID: <s@x>\r\nSubject: stall\r\n\r\nbody\r\n');
    server = await startHostileImap({
      folders: { INBOX: [{ bytes: body, declaredSize: 4 * MiB }] },
      onCommand: async (io) => {
        if (!/^UID FETCH/i.test(`${io.verb} ${io.args}`) || !/BODY\.PEEK\[\]/i.test(io.args)) return false;
        // Half a literal, then nothing: a server that hangs in the middle of a message.
        await io.write(`* 1 FETCH (UID 1 BODY[] {${4 * MiB}}\r\n`);
        await io.writeFiller(MiB);
        fetched();
        return true;
      },
    });
    const d = hostileDirs('sigterm');
    const { child, done } = spawnMeasured(
      [
        'copy',
        `imap://user@127.0.0.1:${server.port}`,
        `mbox:${d.sink}`,
        '--state-dir',
        d.state,
        '--progress',
        'none',
      ],
      { MAILFERRY_SOURCE_PASSWORD: 'secret' },
    );
    await stalled;
    child.kill('SIGTERM');
    const res = await done;
    expect(res.code, res.stderr).toBe(130);
    expect(
      res.stderr
        .split('\n')
        .filter((l) => l.startsWith('mailferry:'))
        .at(-1),
    ).toMatch(/interrupted/);
  });
});

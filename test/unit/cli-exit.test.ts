import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs exitWith() over a promise built by `expr` in a process of its own. */
function exitOf(expr: string) {
  const code = `import { exitWith } from './src/cli/exit.ts';
exitWith(${expr}, (l) => process.stderr.write(l + '\\n'));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return { code: r.status, stderr: r.stderr };
}

describe('the CLI exit', () => {
  it('is 70 with one line when the event loop empties before the command settled', () => {
    const r = exitOf('new Promise(() => {})');
    expect(r.code).toBe(70);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^mailferry: internal error: .+ \(.+\)$/);
  });

  it("is the command's own code when it settles, even after waiting on a timer", () => {
    expect(exitOf('new Promise((r) => setTimeout(() => r(1), 50))').code).toBe(1);
    expect(exitOf('Promise.resolve(0)')).toEqual({ code: 0, stderr: '' });
  });

  it('is 70 with one line when the command rejects with something main did not map', () => {
    const r = exitOf("Promise.reject(new Error('boom'))");
    expect(r.code).toBe(70);
    expect(r.stderr.trim()).toBe('mailferry: internal error: boom (please report this)');
  });

  it('is documented in --help, 70 included', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--help'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Exit codes:[\s\S]*\n {2}70 +internal error/);
  });
});

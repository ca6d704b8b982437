import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rig } from './rig.js';
import { shippedCli } from './shipped.js';

export { shippedCli };

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The real CLI in its own process: from source through tsx, so tests need no build step,
 * or the shipped bundle (`npm test` builds first) where memory is measured, since tsx's
 * own transpiling would blur the figures.
 */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, built = false): ChildProcess {
  const shipped = built ? shippedCli() : undefined;
  const cmd = shipped?.cmd ?? process.execPath;
  const entry = shipped?.args ?? ['--import', 'tsx', 'src/cli/main.ts'];
  return spawn(cmd, [...entry, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...shipped?.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, built = false): Promise<CliResult> {
  return collect(spawnCli(args, env, built));
}

/** Stderr lines mailferry itself wrote (progress lines aside). */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('mailferry:'));
}

/** What every transfer test passes: trust the rig's CA, a private state directory, no progress, JSON. */
export function runOptions(stateDir: string): string[] {
  return ['--ca-file', rig().caFile, '--state-dir', stateDir, '--progress', 'none', '--json'];
}

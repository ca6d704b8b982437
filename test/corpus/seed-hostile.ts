import { spawn } from 'node:child_process';
import { normalizeUser } from '../rig/accounts.js';
import { doveadm, type RigInfo } from '../rig/dovecot.js';

const DOVEADM = '/usr/bin/doveadm';

/**
 * Stores one message as is with `doveadm save` (no IMAP parser in the way, as a mailbox
 * that already holds such mail has it); rejects with Dovecot's reason if it refuses.
 */
export function saveMessage(rig: RigInfo, user: string, folder: string, raw: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOVEADM, ['-c', rig.configFile, 'save', '-u', normalizeUser(user), '-m', folder], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`doveadm save ${folder}: exit ${code}: ${err.trim()}`)),
    );
    child.stdin.end(raw);
  });
}

/** Creates each folder on its own, so one Dovecot refuses does not stop the others. */
export async function createFolders(
  rig: RigInfo,
  user: string,
  names: string[],
): Promise<{ created: string[]; refused: Array<{ name: string; reason: string }> }> {
  const created: string[] = [];
  const refused: Array<{ name: string; reason: string }> = [];
  for (const name of names) {
    try {
      await doveadm(rig, ['mailbox', 'create', '-u', normalizeUser(user), name]);
      created.push(name);
    } catch (err) {
      refused.push({ name, reason: (err as Error).message });
    }
  }
  return { created, refused };
}

/**
 * --timeout for runs over the hostile corpus. Nothing in it should stall, so the value only
 * bounds a hang; it also bounds connecting and logging in, which takes seconds on a loaded
 * 2-core CI machine, so it is not set tighter.
 */
export const HOSTILE_TIMEOUT_S = 20;

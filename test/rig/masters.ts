import { chownSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rigPaths } from './config.js';
import type { RigInfo } from './dovecot.js';
import { lookupGroup } from './system.js';

/**
 * A Dovecot master user: logs in with its own password as any existing user, named by the
 * SASL PLAIN authorisation id. One file per master, so parallel tests never share one.
 */
export function createMasterUser(rig: RigInfo, name: string, password: string): void {
  const file = join(rigPaths(rig.baseDir).mastersDir, name);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${name}:{PLAIN.B64}${Buffer.from(password).toString('base64')}\n`, { mode: 0o640 });
  chownSync(tmp, 0, lookupGroup('dovecot') ?? 0);
  renameSync(tmp, file);
}

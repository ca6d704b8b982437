import { existsSync } from 'node:fs';
import { createAccount } from './accounts.js';
import { type RigInfo, startRig, stopRig } from './dovecot.js';
import type { ServerDriver, ServerInfo } from './servers.js';

/**
 * A second private Dovecot whose personal namespace is Courier's and Cyrus's default: prefix
 * `INBOX.`, delimiter `.`. It exercises namespace mapping with the server the rig knows best.
 */
const NAMESPACE = { prefix: 'INBOX.', separator: '.' };

function rigOf(info: ServerInfo): RigInfo {
  const x = info.extra;
  return {
    host: info.host,
    ports: info.ports,
    caFile: info.caFile,
    baseDir: info.baseDir,
    configFile: x.configFile!,
    logFile: x.logFile!,
    instance: x.instance!,
    pid: Number(x.pid),
    mailUid: Number(x.mailUid),
    mailGid: Number(x.mailGid),
  };
}

export const dovecotNsDriver: ServerDriver = {
  kind: 'dovecot-ns',
  available: () => existsSync('/usr/sbin/dovecot'),
  async start() {
    const rig = await startRig({ namespace: NAMESPACE });
    return {
      kind: 'dovecot-ns',
      host: rig.host,
      ports: rig.ports,
      caFile: rig.caFile,
      baseDir: rig.baseDir,
      namespace: { prefix: NAMESPACE.prefix, delimiter: NAMESPACE.separator },
      extra: {
        configFile: rig.configFile,
        logFile: rig.logFile,
        instance: rig.instance,
        pid: String(rig.pid),
        mailUid: String(rig.mailUid),
        mailGid: String(rig.mailGid),
      },
    };
  },
  async stop(info) {
    await stopRig(rigOf(info));
  },
  async createAccount(info, user, password) {
    await createAccount(rigOf(info), user, password);
  },
};

import { existsSync, rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { dovecotInfo, masterPid, type RigInfo, startRig, stopRig } from './dovecot.js';
import { instancePids, terminateInstance } from './procs.js';
import { type RedisInfo, redisAvailable, startRedis, stopRedis } from './redis.js';
import { extraDrivers } from './server-list.js';
import type { ServerInfo } from './servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    rig: RigInfo;
    /** Every server of the rig, the main Dovecot first (test/helpers/servers.ts). */
    servers: ServerInfo[];
    /** The rig's private Redis (batch queues), when redis-server is installed. */
    redis: RedisInfo | undefined;
  }
}

/** Last resort if the teardown never runs (vitest interrupted): stop the master synchronously. */
function killOnExit(rig: RigInfo): () => void {
  const handler = () => {
    terminateInstance(rig.instance, rig.configFile, masterPid(rig) ?? rig.pid);
    // Only synchronous work runs in an exit handler: block in short sleeps until Dovecot is gone.
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 250 && instancePids(rig.instance, rig.configFile).length > 0; i++)
      Atomics.wait(nap, 0, 0, 20);
    if (process.env.MAILFERRY_RIG_KEEP === '1') return;
    try {
      rmSync(rig.baseDir, { recursive: true, force: true });
    } catch {
      // a straggler still writing; the temp dir stays
    }
  };
  process.once('exit', handler);
  return () => process.off('exit', handler);
}

/** One Dovecot for the whole test run; each test file makes its own accounts on it. */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (!existsSync('/usr/sbin/dovecot')) {
    // Unit tests still run; rig() in test/helpers/rig.ts says what is missing.
    console.warn('mailferry test rig: /usr/sbin/dovecot not found, integration tests will fail');
    return undefined;
  }
  const started = performance.now();
  const rig = await startRig();
  const forget = killOnExit(rig);
  if (process.env.MAILFERRY_RIG_VERBOSE === '1') {
    console.log(`mailferry test rig up in ${Math.round(performance.now() - started)} ms at ${rig.baseDir}`);
  }
  project.provide('rig', rig);
  const extra = await startExtraServers();
  project.provide('servers', [dovecotInfo(rig), ...extra.map((e) => e.info)]);
  if (!redisAvailable() && process.env.CI === 'true')
    throw new Error('mailferry test rig: redis-server is not installed');
  const redis = redisAvailable() ? await startRedis() : undefined;
  project.provide('redis', redis);
  return async () => {
    if (redis) await stopRedis(redis);
    forget();
    for (const e of extra) await e.driver.stop(e.info).catch((err) => console.warn(String(err)));
    await stopRig(rig);
  };
}

async function startExtraServers() {
  const started = [];
  for (const driver of extraDrivers) {
    if (!driver.available()) {
      // CI installs every server (scripts/setup.sh): there a missing one is a failed setup, not a skip.
      if (process.env.CI === 'true') throw new Error(`mailferry test rig: ${driver.kind} is not installed`);
      console.warn(
        `mailferry test rig: ${driver.kind} is not installed (scripts/setup.sh), its tests are skipped`,
      );
      continue;
    }
    started.push({ driver, info: await driver.start() });
  }
  return started;
}

import { courierDriver } from './courier.js';
import { cyrusDriver } from './cyrus.js';
import { dovecotNsDriver } from './dovecot-ns.js';
import type { ServerDriver } from './servers.js';

/**
 * Servers the integration rig starts besides the main Dovecot (test/rig/dovecot.ts), each a
 * private instance on 127.0.0.1. A driver whose binaries are missing is skipped with a warning;
 * CI installs them all (scripts/setup.sh), so there every one runs.
 */
export const extraDrivers: ServerDriver[] = [cyrusDriver, courierDriver, dovecotNsDriver];

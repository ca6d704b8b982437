import { servers } from '../helpers/servers.js';
import { storeContract } from './contract.js';
import { imapStore } from './stores.js';

/** IMAP on every server of the rig: Dovecot, Cyrus, Courier, Dovecot with Courier's namespace. */
for (const server of servers()) storeContract(imapStore(server));

import { storeContract } from './contract.js';
import { FILE_STORES } from './stores.js';

/** mbox, zip and Maildir: each store's sink written, its own source read back. */
for (const store of FILE_STORES) storeContract(store);

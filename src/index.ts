/** The library: everything the CLI does is callable from here. */

export type { ConnectSettings, SideCredentials, TransferRequest } from './commands/common.js';
export { type CopyReport, copy, formatReport } from './commands/copy.js';
export { formatLs, ls } from './commands/ls.js';
export { formatStatus, type StatusEntry, status } from './commands/status.js';
export { plan } from './commands/transfer.js';
export { type FolderVerdict, formatVerify, type VerifyReport, verify } from './commands/verify.js';
export { defaultStateDir, defaultTransferOptions, type TransferOptions } from './config.js';
export { describeEndpoint, type Endpoint, parseEndpoint } from './endpoint.js';
export * from './errors.js';
export type { FolderPlan, Plan, PlanItem } from './plan/diff.js';
export { formatPlan } from './plan/format.js';
export { sinks, sources } from './stores/registry.js';
export type * from './types.js';

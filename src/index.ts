/** The library: everything the CLI does is callable from here. */
export { copy, formatReport, type CopyReport } from './commands/copy.js';
export { ls, formatLs } from './commands/ls.js';
export { status, formatStatus, type StatusEntry } from './commands/status.js';
export { plan } from './commands/transfer.js';
export { verify, formatVerify, type VerifyReport, type FolderVerdict } from './commands/verify.js';
export type { ConnectSettings, TransferRequest, SideCredentials } from './commands/common.js';
export { defaultTransferOptions, defaultStateDir, type TransferOptions } from './config.js';
export { parseEndpoint, describeEndpoint, type Endpoint } from './endpoint.js';
export * from './errors.js';
export type { Plan, FolderPlan, PlanItem } from './plan/diff.js';
export { formatPlan } from './plan/format.js';
export { sinks } from './sinks/index.js';
export { sources } from './sources/index.js';
export type * from './types.js';

import type { TransferOptions } from './config.js';

export type Provider = 'm365' | 'gmail';
export const PROVIDERS: readonly Provider[] = ['m365', 'gmail'];

export interface ProviderPreset {
  label: string;
  /** Concurrent IMAP sessions the provider allows one mailbox. */
  maxConnections: number;
  /** Largest message the provider accepts at all; bigger ones are not uploaded. */
  maxMessageBytes?: number;
}

/**
 * What the providers document. Exchange Online: 20 concurrent IMAP connections per mailbox,
 * and 150 MB as the largest message size an organisation can allow (the default is 35 MB to
 * send and 36 MB to receive, which the server's own refusal then reports). Gmail: 15
 * simultaneous IMAP connections per account. Throttling replies (Exchange's "Suggested
 * Backoff Time", Gmail's bandwidth limits) are honoured for every server, preset or not.
 */
export const PRESETS: Readonly<Record<Provider, ProviderPreset>> = {
  m365: { label: 'Microsoft 365', maxConnections: 20, maxMessageBytes: 150 * 1024 * 1024 },
  gmail: { label: 'Gmail', maxConnections: 15 },
};

/** The run's options within the provider's limits: only ever lowered, never raised. */
export function withPreset(o: TransferOptions): TransferOptions {
  if (!o.provider) return o;
  const p = PRESETS[o.provider];
  return { ...o, connections: Math.min(o.connections, p.maxConnections) };
}

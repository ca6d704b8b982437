import type { Readable } from 'node:stream';

/** RFC 6154 special-use attributes mailferry maps between servers. */
export type SpecialUse = '\\Sent' | '\\Drafts' | '\\Trash' | '\\Junk' | '\\Archive' | '\\All' | '\\Flagged';

export interface FolderInfo {
  /** Full name as the endpoint spells it (IMAP: decoded from modified UTF-7). */
  name: string;
  /** Hierarchy delimiter at the endpoint; '/' for file formats. */
  delimiter: string;
  specialUse?: SpecialUse;
  subscribed?: boolean;
  /** False for \Noselect containers that hold no messages. */
  selectable?: boolean;
}

/**
 * Personal namespace (RFC 2342): the prefix and delimiter of the user's own folders, e.g. ''
 * and '/' (Dovecot) or 'INBOX.' and '.' (Cyrus, Courier). '' and '/' for file formats.
 */
export interface FolderNamespace {
  prefix: string;
  delimiter: string;
}

export interface MessageMeta {
  /** Stable id at the source: POP3 UIDL, IMAP UID, mbox index, zip entry name. */
  id: string;
  /** Raw size in bytes as the endpoint reports it (RFC822.SIZE, LIST, entry size). */
  size: number;
  flags: string[];
  /** IMAP INTERNALDATE or its equivalent; POP3 derives it from Received/Date. */
  internalDate?: Date;
  /** Message-ID without angle brackets; undefined when the message has none or it is not known yet. */
  messageId?: string;
  /** SHA-256 (hex) of the CRLF-normalised bytes, when the endpoint already knows it (archives). */
  sha256?: string;
  /** The server's id of the message itself, the same in every folder (Gmail's X-GM-MSGID, RFC 8474 EMAILID). */
  providerId?: string;
  /** Gmail's X-GM-LABELS as the server names them (system labels start with a backslash). */
  labels?: string[];
}

export interface FolderInventory {
  folder: FolderInfo;
  /** IMAP UIDVALIDITY as a decimal string (imapflow hands out BigInt). */
  uidValidity?: string;
  uidNext?: number;
  highestModseq?: string;
  messages: MessageMeta[];
  /** Entries the source refuses to hand out (e.g. zip entries escaping the root); reported, run exits 1. */
  skipped?: Array<{ id: string; reason: string }>;
}

/** Cheap per-folder state (IMAP STATUS/SELECT) that lets a re-run skip unchanged folders. */
export interface FolderStatus {
  uidValidity?: string;
  uidNext?: number;
  highestModseq?: string;
  messages: number;
  /** Digest of the message ids, for sources without UIDVALIDITY (POP3). */
  ids?: string;
}

export interface InventoryOptions {
  /** Only messages with UID >= this (IMAP incremental runs). */
  sinceUid?: number;
}

export interface FolderStat {
  folder: FolderInfo;
  messages: number;
  bytes: number;
}

/**
 * What a store declares. What it can do is read from the optional methods it implements
 * (delete, find, setFlags, identify, folderStatus), never from a flag beside them.
 */
export interface SourceCapabilities {
  hasFolders: boolean;
  keepsFlags: boolean;
  /**
   * Identity headers cost an extra round trip (POP3 TOP): identify() runs only when the
   * planner must match against a sink; otherwise open() learns them from the message itself
   * and says so in its body's `learned`.
   */
  lazyIdentity: boolean;
  /** How many sessions may run at once against this endpoint. */
  maxConnections: number;
  /** Set when one session takes many concurrent open() calls and batches them on the wire: how many before another session is worth opening. */
  pipelineDepth?: number;
}

/** What open() read from a message's own headers (a lazyIdentity source). */
export interface LearnedIdentity {
  messageId?: string;
  internalDate?: Date;
}

/**
 * A message's bytes as a stream. A lazyIdentity source hands back, on the stream itself,
 * what it learned on the way (as Node's IncomingMessage carries its headers): the caller
 * decides what to do with it, the message it passed in stays unchanged.
 */
export type MessageBody = Readable & { readonly learned?: LearnedIdentity };

/** One session with a source. Sessions are cheap to replace: a retry opens a fresh one. */
export interface Source {
  readonly capabilities: SourceCapabilities;
  /** Where the user's folders live; without it: no prefix, the folders' own delimiter. */
  readonly namespace?: FolderNamespace;
  listFolders(): Promise<FolderInfo[]>;
  inventory(folder: FolderInfo, options?: InventoryOptions): Promise<FolderInventory>;
  folderStatus?(folder: FolderInfo): Promise<FolderStatus>;
  /** Fill messageId (and internalDate where the source has none) from the headers. */
  identify?(folder: FolderInfo, messages: MessageMeta[]): Promise<void>;
  /** Raw message bytes, exactly as stored; `message` is left as it was given. */
  open(folder: FolderInfo, message: MessageMeta): Promise<MessageBody>;
  /** Delete messages already copied and verified (--delete-source). POP3 commits on close. */
  delete?(folder: FolderInfo, messages: MessageMeta[]): Promise<void>;
  stat?(): Promise<FolderStat[]>;
  close(): Promise<void>;
}

export interface SinkCapabilities {
  hasFolders: boolean;
  keepsFlags: boolean;
  maxConnections: number;
  /** Set when one session takes many concurrent append() calls and batches them: how many before another session is worth opening. */
  pipelineDepth?: number;
}

export interface AppendInput {
  folder: string;
  meta: MessageMeta;
  flags: string[];
  internalDate?: Date;
  body: Readable;
}

export interface AppendResult {
  /** Sink-side id (IMAP APPENDUID, zip entry name, mbox offset). */
  id?: string;
  /** SHA-256 (hex) of the CRLF-normalised bytes written, when the sink computed it. */
  sha256?: string;
  /** Flags the sink could not keep (e.g. keywords without PERMANENTFLAGS \*). */
  droppedFlags?: string[];
}

/**
 * One sink session. append() may be called concurrently by several workers: a sink that
 * must write in order (files) serialises internally. File sinks may group fsyncs, but each
 * append() resolves only once its own bytes are durable.
 */
export interface Sink {
  readonly capabilities: SinkCapabilities;
  /** Where the user's folders live; without it: no prefix, the folders' own delimiter. */
  readonly namespace?: FolderNamespace;
  listFolders(): Promise<FolderInfo[]>;
  /** Create folders that are missing; keeps special-use where the sink supports CREATE-SPECIAL-USE. */
  ensureFolder(folder: FolderInfo): Promise<void>;
  /** undefined when the folder does not exist at the sink yet. */
  inventory(folder: string, options?: InventoryOptions): Promise<FolderInventory | undefined>;
  folderStatus?(folder: string): Promise<FolderStatus | undefined>;
  /** Resolves only once the message is durable (APPEND OK, bytes fsynced). */
  append(input: AppendInput): Promise<AppendResult>;
  /** Ids of messages with this identity, by Message-ID and size, to settle an append whose answer was lost. */
  find?(folder: string, meta: MessageMeta): Promise<string[]>;
  /** Change flags of an existing message, for incremental runs. */
  setFlags?(folder: string, id: string, flags: string[]): Promise<void>;
  /** Finish the sink's structure (zip central directory) and close. */
  close(): Promise<void>;
}

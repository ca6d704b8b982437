export function isInbox(name: string): boolean {
  return name.toUpperCase() === 'INBOX';
}

/** INBOX in any case is INBOX; every other name is case-sensitive (RFC 3501 5.1). */
export function folderKey(name: string): string {
  return isInbox(name) ? 'INBOX' : name;
}

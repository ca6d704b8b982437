/**
 * Exchange and Microsoft 365 open a shared mailbox with the login `admin\shared` (or
 * `admin@corp.com\shared@corp.com`): the administrator's credentials, the shared mailbox's
 * mail. The mailbox is what a transfer is about, so it names the state directory: two
 * administrators moving the same shared mailbox resume one transfer.
 */
export function mailboxOf(user: string): string {
  const i = user.lastIndexOf('\\');
  return i >= 0 && i < user.length - 1 ? user.slice(i + 1) : user;
}

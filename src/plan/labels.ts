import type { SpecialUse } from '../types.js';

/**
 * Gmail's system labels (X-GM-LABELS) as the tokens placementOf() reads: \Inbox is INBOX,
 * \Sent and \Draft are those folders, \Starred is the \Flagged flag; \Important and any other
 * system label are dropped (they have no IMAP meaning). User labels pass as they are.
 */
const SYSTEM: Record<string, string | undefined> = {
  '\\inbox': 'INBOX',
  inbox: 'INBOX',
  '\\sent': '\\Sent',
  '\\draft': '\\Drafts',
  '\\drafts': '\\Drafts',
  '\\starred': '\\Flagged',
  '\\flagged': '\\Flagged',
};

export function labelTokens(labels: readonly string[]): string[] {
  const out: string[] = [];
  for (const l of labels) {
    const sys = SYSTEM[l.toLowerCase()];
    if (sys) out.push(sys);
    else if (!l.startsWith('\\')) out.push(l);
  }
  return out;
}

export interface Placement {
  /** The one folder the copy lands in. */
  place: 'INBOX' | SpecialUse;
  /** User labels as IMAP keywords. */
  keywords: string[];
  flagged: boolean;
}

/** Drafts before Sent before INBOX, else the archive: a message is copied once, in one folder. */
export function placementOf(tokens: readonly string[]): Placement {
  const has = (t: string) => tokens.includes(t);
  const place = has('\\Drafts')
    ? '\\Drafts'
    : has('\\Sent')
      ? '\\Sent'
      : has('INBOX')
        ? 'INBOX'
        : '\\Archive';
  const keywords = new Set<string>();
  for (const t of tokens) {
    if (t === 'INBOX' || t.startsWith('\\')) continue;
    const k = labelKeyword(t);
    if (k) keywords.add(k);
  }
  return { place, keywords: [...keywords].sort(), flagged: has('\\Flagged') };
}

/**
 * A label as an IMAP keyword, which is an atom (RFC 3501 flag-keyword): ASCII without space,
 * controls or `(){%*"\]`. Anything else becomes `_`, so `Work/Q1 2024` is `Work/Q1_2024` and
 * `Büro` is `B_ro`; a label of nothing but such characters is dropped.
 */
export function labelKeyword(label: string): string | undefined {
  let out = '';
  for (const ch of label) {
    const c = ch.codePointAt(0) ?? 0;
    out += c <= 0x20 || c >= 0x7f || '(){%*"\\]'.includes(ch) ? '_' : ch;
  }
  return /[^_]/.test(out) ? out : undefined;
}

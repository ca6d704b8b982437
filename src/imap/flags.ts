const SYSTEM_FLAGS = new Map(
  ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'].map((f) => [f.toLowerCase(), f]),
);
/** RFC 9051 atom: no specials, no controls, no spaces. */
const ATOM = /^[^\s(){%*"\\\]\x00-\x1f\x7f]+$/;

/**
 * Which flags a folder keeps. `permanent` is PERMANENTFLAGS from a read-write SELECT
 * (undefined when the server sent none: then every flag is kept). \Recent is session
 * state, never sent and not reported as dropped.
 */
export function filterFlags(
  flags: string[],
  permanent: Set<string> | undefined,
): { keep: string[]; dropped: string[] } {
  const allowed = new Set([...(permanent ?? [])].map((f) => f.toLowerCase()));
  const keep: string[] = [];
  const dropped: string[] = [];
  for (const raw of flags) {
    const lower = raw.toLowerCase();
    if (lower === '\\recent') continue;
    const flag = SYSTEM_FLAGS.get(lower) ?? raw;
    const atom = flag.startsWith('\\') ? flag.slice(1) : flag;
    const ok =
      ATOM.test(atom) && (!permanent || allowed.has(lower) || (allowed.has('\\*') && !flag.startsWith('\\')));
    if (!ok) dropped.push(raw);
    else if (!keep.includes(flag)) keep.push(flag);
  }
  return { keep, dropped };
}

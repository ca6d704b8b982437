/** EX_SOFTWARE (sysexits.h): the run could not finish because of mailferry itself. */
export const EXIT_INTERNAL = 70;

/**
 * Sets the exit code from `run`, and makes sure a run never ends in silence: when the event
 * loop empties while `run` has not settled (something awaited an event that can no longer
 * come), Node would exit 0 with nothing printed. 'beforeExit' fires exactly then.
 */
export function exitWith(run: Promise<number>, stderr: (line: string) => void): void {
  let settled = false;
  const onBeforeExit = () => {
    if (settled) return;
    stderr(
      'mailferry: internal error: the run stopped waiting for something that can no longer happen, before it could report (run again to resume; please report this with --verbose output)',
    );
    process.exit(EXIT_INTERNAL);
  };
  process.on('beforeExit', onBeforeExit);
  run.then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (err: unknown) => {
      settled = true;
      stderr(
        `mailferry: internal error: ${err instanceof Error ? err.message : String(err)} (please report this)`,
      );
      process.exitCode = EXIT_INTERNAL;
    },
  );
}

import { defineConfig } from 'vitest/config';

/** The bench harness's own tests: `npx vitest run --config bench/vitest.config.ts` (no Dovecot needed). */
export default defineConfig({
  test: {
    include: ['bench/**/*.test.ts'],
    testTimeout: 60_000,
  },
});

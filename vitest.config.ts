import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/rig/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration tests share one Dovecot rig; files run in parallel workers but each uses its own accounts.
    fileParallelism: true,
    maxWorkers: 2,
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    projects: [
      // Pure logic and in-process fakes: no server.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // Real Dovecot: one private rig for the whole run, each test file on its own accounts.
      {
        extends: true,
        test: {
          name: 'integration',
          include: [
            'test/integration/**/*.test.ts',
            'test/faults/**/*.test.ts',
            'test/contract/**/*.test.ts',
          ],
          globalSetup: ['test/rig/global-setup.ts'],
        },
      },
    ],
  },
});

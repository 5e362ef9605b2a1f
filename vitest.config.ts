import { defineConfig } from 'vitest/config';

// Every test runs against the real binary and real components: globalSetup compiles src/ once.
// Forks, not threads: tests spawn registries, skopeo and S3 servers and clean up on exit.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/lab/build-setup.ts', 'test/lab/swift-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Bounds for a hung test, not timings: on 2 cores with other jobs running, tests that drive
    // several CLI processes against Swift or a registry took over 60 s (copy-all, twin).
    testTimeout: 180_000,
    hookTimeout: 300_000,
    reporters: ['default', './test/lab/file-log-reporter.ts'],
  },
});

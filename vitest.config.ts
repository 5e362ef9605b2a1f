import { defineConfig } from 'vitest/config';

// Every test runs against the real binary and real components: globalSetup compiles src/ once.
// Forks, not threads: tests spawn registries, skopeo and S3 servers and clean up on exit.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/lab/build-setup.ts', 'test/lab/swift-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/lab/file-log-reporter.ts'],
  },
});

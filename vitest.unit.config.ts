import { defineConfig } from 'vitest/config';

// `npm run test:unit`: the in-process tests. No build, no Swift, no registry or skopeo: they import
// src/ directly and use the memory, S3-shaped (test/lab/s3-like.ts) and filesystem drivers. A test
// that needs the built CLI or the lab belongs in `npm test` only (vitest.config.ts runs everything).
export default defineConfig({
  test: {
    include: [
      'test/architecture/*.test.ts',
      'test/commands/listing.test.ts',
      'test/drivers/filesystem.test.ts',
      'test/drivers/memory.test.ts',
      'test/drivers/local-reads.test.ts',
      'test/gc/report.test.ts',
      'test/gc/scan.test.ts',
      'test/gc/semantics.test.ts',
      'test/mirror/registry-ref.test.ts',
      'test/reliability/grammar.property.test.ts',
      'test/store/*.test.ts',
      'test/verify/audit.test.ts',
      'test/verify/hashing.test.ts',
    ],
    // Half of it runs on the Swift lab, which only `npm test` starts.
    exclude: ['test/store/round-trips.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
  },
});

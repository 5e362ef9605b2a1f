import { defineConfig } from 'vitest/config';

// `npm run test:unit`: the in-process tests. No build, no Swift, no registry or skopeo: they import
// src/ directly and use the memory, S3-shaped (test/lab/s3-like.ts) and filesystem drivers. A test
// that needs the built CLI or the lab belongs in `npm test` only (vitest.config.ts runs everything).
// Under a minute on a loaded 2-core machine: 47 s idle before the two exclusions below.
export default defineConfig({
  test: {
    include: [
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
    exclude: [
      // Half of it runs on the Swift lab, which only `npm test` starts.
      'test/store/round-trips.test.ts',
      // Runs the built CLI (regbucketOk), which only `npm test` builds.
      'test/store/pull-existing.test.ts',
    ],
    // Not here: test/architecture/ runs dependency-cruiser over the whole tree twice (19 s of a
    // worker); .ci/run's `npm run depcheck` checks src/ before the tests, `npm test` runs it.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
  },
});

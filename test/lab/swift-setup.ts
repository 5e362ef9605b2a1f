// vitest globalSetup: ONE Swift (S3 API) for the whole run, started in the background so runs
// that use no S3 store do not wait for it. Workers find it through REGBUCKET_TEST_S3_ENDPOINT
// (forked workers inherit the environment) and wait for it in freshS3Store()/swiftReady().
import { startSwift, type RunningSwift } from './swift.js';

let swift: RunningSwift | undefined;

export default async function setup(): Promise<() => Promise<void>> {
  swift = await startSwift({ wait: false });
  process.env.REGBUCKET_TEST_S3_ENDPOINT = swift.endpoint;
  swift.ready.catch((err: unknown) => console.error(`Swift lab failed to start: ${(err as Error).message}`));
  return async () => {
    await swift?.stop();
  };
}

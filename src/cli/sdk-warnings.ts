// A process-wide concern, so it lives with the CLI (the process's owner), not in the S3 driver.

/** The SDK's notices (process.emitWarning: Node versions, deprecations; multi-line) are for developers, not for CLI users. */
let warningFilterInstalled = false;
export function silenceSdkNodeVersionWarning(): void {
  if (warningFilterInstalled) return;
  warningFilterInstalled = true;
  const emit = process.emitWarning.bind(process) as (...a: unknown[]) => void;
  process.emitWarning = (warning: string | Error, ...rest: unknown[]): void => {
    const msg = typeof warning === 'string' ? warning : warning?.message;
    if (typeof msg === 'string' && (msg.startsWith('NodeVersionSupportWarning') || /@smithy\/|@aws-sdk\/|AWS SDK/.test(msg))) return;
    return emit(warning, ...rest);
  };
}

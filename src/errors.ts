// Typed errors shared by every layer. The CLI maps them to exit codes in one place
// (src/cli/exit.ts); nothing below src/cli/ prints or exits.

export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  integrity: 3,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class RegbucketError extends Error {
  /** Exit code the CLI uses when this error ends a command. */
  readonly exitCode: ExitCodeValue = ExitCode.failed;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input that can never work: bad reference, bad flag value, malformed source. Exit 2. */
export class InvalidInputError extends RegbucketError {
  override readonly exitCode = ExitCode.usage;
}

export class InvalidReferenceError extends InvalidInputError {}

export class UsageError extends InvalidInputError {}

/** Bytes that do not hash to the digest they claim. Exit 2: the source is bad. */
export class DigestMismatchError extends InvalidInputError {
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly where: string,
  ) {
    super(`digest mismatch for ${expected} (${where}): the bytes hash to ${actual}; the source is corrupt, fetch it again`);
  }
}

export class SizeMismatchError extends InvalidInputError {
  constructor(
    readonly digest: string,
    readonly expected: number,
    readonly actual: number,
    readonly where: string,
  ) {
    super(`size mismatch for ${digest} (${where}): descriptor says ${expected} bytes, got ${actual}; the source is corrupt or its manifest lies`);
  }
}

/** Something asked for does not exist in the store or the source (repo, tag, manifest, blob). */
export class NotFoundError extends RegbucketError {}

/** A manifest or index refers to something the repository does not have. */
export class ReferenceUnknownError extends RegbucketError {}

/** An operation refused because it would break something (e.g. deleting a child of a kept index). */
export class RefusedError extends RegbucketError {
  override readonly exitCode = ExitCode.usage;
}

/** Integrity problems found by an audit. Exit 3. */
export class IntegrityError extends RegbucketError {
  override readonly exitCode = ExitCode.integrity;
}

// ---- storage driver errors (distribution's driver error types, in our words) ----

export class StorageError extends RegbucketError {
  constructor(
    readonly driver: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${driver}: ${message}`, options);
  }
}

export class PathNotFoundError extends StorageError {
  constructor(
    driver: string,
    readonly path: string,
  ) {
    super(driver, `path not found: ${path}`);
  }
}

export class InvalidPathError extends StorageError {
  override readonly exitCode = ExitCode.usage;
  constructor(
    driver: string,
    readonly path: string,
  ) {
    super(driver, `invalid path: ${JSON.stringify(path)}`);
  }
}

export function isNotFound(err: unknown): err is PathNotFoundError {
  return err instanceof PathNotFoundError;
}

/** What makes a path unsafe to use: never followed, opened or deleted through. */
export type HazardKind = 'symlink' | 'special' | 'oversized' | 'loop';

/**
 * A store path that is a symlink (or lies below one), a FIFO, socket or device, or a small file
 * (link, manifest, startedat) over its bound. Nothing is read, written or deleted through it.
 * Exit 3: the store has a problem to look at.
 */
export class UnsafePathError extends StorageError {
  override readonly exitCode = ExitCode.integrity;
  constructor(
    driver: string,
    readonly path: string,
    readonly kind: HazardKind,
    detail = '',
  ) {
    super(driver, `${path} is ${hazardText(kind)}${detail ? ` (${detail})` : ''}: regbucket never follows, opens or deletes through it; look at it and remove or replace it by hand`);
  }
}

export function hazardText(kind: HazardKind): string {
  switch (kind) {
    case 'symlink':
      return 'a symbolic link';
    case 'special':
      return 'a special file (FIFO, socket or device)';
    case 'oversized':
      return 'larger than such a file can be';
    case 'loop':
      return 'a symbolic link loop';
  }
}

/** A directory that gained entries while it was being deleted (a concurrent push): left in place. */
export class ChangedDuringDeleteError extends StorageError {
  constructor(
    driver: string,
    readonly path: string,
  ) {
    super(driver, `${path} changed while it was being deleted (a concurrent write): left in place`);
  }
}

/**
 * Turning file-system failures into the storage layer's typed errors. A failed write or sync makes
 * a partition refuse appends for good (the failure is sticky): ENOSPC becomes DISK_FULL, anything
 * else STORAGE_FAILED, each naming the file.
 */
import { WeirError } from '../util/errors.js';
import { errorCodeOf } from './file-system.js';

export function errorMessageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function writeFailure(path: string, operation: string, cause: unknown): WeirError {
  const code = errorCodeOf(cause);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new WeirError('DISK_FULL', `${operation} of ${path} failed: disk full (${code}); the partition refuses appends until it is reopened (restart the broker once there is room)`, { cause });
  }
  return new WeirError(
    'STORAGE_FAILED',
    `${operation} of ${path} failed (${code ?? errorMessageOf(cause)}); the partition refuses appends until it is reopened (restart the broker)`,
    { cause },
  );
}

/** A failed read is not sticky (the next read may work); file-system errors become STORAGE_FAILED. */
export function readFailure(path: string, cause: unknown): unknown {
  if (cause instanceof WeirError) return cause;
  return new WeirError('STORAGE_FAILED', `read of ${path} failed (${errorCodeOf(cause) ?? errorMessageOf(cause)})`, { cause });
}

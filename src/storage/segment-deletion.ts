/**
 * Deleting whole segments so that a crash at any step is recognisable: first every file of the
 * doomed segments is renamed to `<name>.deleted` (oldest segment first) and the directory is
 * fsync'ed — from then on the segments are gone as far as the log is concerned — then the renamed
 * files are unlinked. Opening a directory removes any `.deleted` file it finds (the deletion is
 * finished), and an index file whose `.log` is missing (renamed before the crash) goes too.
 */
import { errorCodeOf } from './file-system.js';
import type { Segment, SegmentContext } from './segment.js';
import { deletedSuffix } from './segment-names.js';

export async function deleteSegments(dir: string, doomed: readonly Segment[], context: SegmentContext): Promise<void> {
  const renamed: string[] = [];
  for (const segment of doomed) {
    segment.forget();
    // The log file first: once it is renamed the segment no longer exists for recovery.
    for (const path of [segment.logPath, segment.offsetIndexPath, segment.timeIndexPath]) {
      try {
        await context.fileSystem.rename(path, path + deletedSuffix);
        renamed.push(path + deletedSuffix);
      } catch (error) {
        if (errorCodeOf(error) !== 'ENOENT') throw error;
      }
      // After the rename, not before: a read that opened the file in between would keep a
      // descriptor, and with it the unlinked file's space, until the pool let it go.
      await context.handles.retire(path);
    }
  }
  await context.fileSystem.fsyncDirectory(dir);
  for (const path of renamed) {
    try {
      await context.fileSystem.unlink(path);
    } catch (error) {
      if (errorCodeOf(error) !== 'ENOENT') throw error;
    }
  }
}

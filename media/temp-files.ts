// Owns removing the media library's scratch files (frames, PCM) when a process exits without disposing them.

import { unlinkSync } from 'node:fs';

// Files of a process that exits without disposing its handles (a crash, Ctrl-C through the CLI's
// exit) would otherwise fill the temp folder; 'exit' handlers must be synchronous.
const liveFiles = new Set<string>();
let exitHookInstalled = false;

/** Marks a scratch file to be removed at process exit unless {@link untrackTempFile} is called first. */
export function trackTempFile(file: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const f of liveFiles) {
        try {
          unlinkSync(f);
        } catch {
          // Already gone, or the folder was removed: nothing left to clean.
        }
      }
    });
  }
  liveFiles.add(file);
}

/** The file was removed (or handed on) by its owner: exit need not remove it. */
export function untrackTempFile(file: string): void {
  liveFiles.delete(file);
}

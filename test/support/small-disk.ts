/**
 * A tiny filesystem for storage-fault tests: a tmpfs mounted with a size limit, so SQLite meets a real
 * ENOSPC (SQLITE_FULL). Mounting needs root (CI runs as root); elsewhere `smallDiskUnavailable` says why,
 * and the tests that need one are skipped with that reason while the injected-error tests still run.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SmallDisk {
  dir: string;
  /** Unmounts and removes the mount point; safe to call twice. */
  remove(): void;
}

export function mountSmallDisk(sizeBytes: number): SmallDisk {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'small-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    fs.rmdirSync(dir);
    throw error;
  }
  let removed = false;
  return {
    dir,
    remove() {
      if (removed) return;
      removed = true;
      execFileSync('umount', [dir], { stdio: 'pipe' });
      fs.rmdirSync(dir);
    },
  };
}

/** Null when a small disk can be mounted here, else the reason it cannot (checked once, by trying). */
export const smallDiskUnavailable: string | null = (() => {
  if (process.platform !== 'linux') return 'tmpfs mounts are Linux only';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  try {
    mountSmallDisk(64 * 1024).remove();
    return null;
  } catch (error) {
    return `mounting a tmpfs failed: ${(error as Error).message.split('\n')[0]}`;
  }
})();

/** Fills `dir`'s filesystem to the last byte with a file at `file`; returns its size in bytes. */
export function fillDisk(file: string): number {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(4096);
  let written = 0;
  try {
    for (;;) written += fs.writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    fs.closeSync(fd);
  }
  return written;
}

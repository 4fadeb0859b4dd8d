// File bodies in a directory on this server. A put writes a temp file beside its target and renames
// it into place, so a reader sees the old file or the whole new one, never half of either; the temp
// file is fsynced first so a crash after the rename cannot leave an empty or torn file.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertStorageKey, InvalidStorageKey, StoredFileNotFound } from './file-store.ts';
import type { FileStore } from './file-store.ts';

const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;

/**
 * The path a key is stored at. assertStorageKey already refuses anything that could climb out, but
 * the path is checked again after resolving because a mistake there must not become a way to read
 * or overwrite any file the process can reach.
 */
export function pathInsideRoot(rootDir: string, key: string): string {
  const root = path.resolve(rootDir);
  const resolved = path.resolve(root, key);
  if (!resolved.startsWith(root + path.sep)) {
    throw new InvalidStorageKey('A storage key must name a path inside the storage directory.');
  }
  return resolved;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

// ENOTDIR: a key below another key's file ('a/b' when 'a' is a file) names nothing stored.
function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

// Temp names start with '.', which no storage key may contain, so they never shadow a stored file.
function tempPathBeside(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(8).toString('hex')}.tmp`);
}

// The rename is only durable once the directory entry is on disk too.
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function createLocalFileStore(rootDir: string): FileStore {
  const root = path.resolve(rootDir);

  function pathFor(key: string): string {
    assertStorageKey(key);
    return pathInsideRoot(root, key);
  }

  return {
    name: 'local',

    async put(key, body: Readable) {
      const target = pathFor(key);
      const directory = path.dirname(target);
      await mkdir(directory, { recursive: true, mode: DIRECTORY_MODE });
      const temp = tempPathBeside(target);
      let sizeBytes = 0;
      try {
        await pipeline(
          body,
          async function* countBytes(source: AsyncIterable<Buffer | string>) {
            for await (const chunk of source) {
              const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
              sizeBytes += bytes.length;
              yield bytes;
            }
          },
          // 'wx': a fresh file of our own, never something already at that name; flush: fsync
          // before close, so the rename below publishes bytes that are on disk.
          createWriteStream(temp, { flags: 'wx', mode: FILE_MODE, flush: true }),
        );
        await rename(temp, target);
      } catch (error) {
        body.destroy();
        await unlink(temp).catch(() => undefined);
        throw error;
      }
      await syncDirectory(directory);
      return { sizeBytes };
    },

    async get(key) {
      const file = pathFor(key);
      // Opened before returning so a missing file rejects here, not later as a stream error.
      const handle = await open(file, 'r').catch((error: unknown) => {
        throw isMissing(error) ? new StoredFileNotFound(key) : error;
      });
      try {
        if (!(await handle.stat()).isFile()) throw new StoredFileNotFound(key);
      } catch (error) {
        await handle.close();
        throw error;
      }
      return handle.createReadStream();
    },

    async delete(key) {
      const file = pathFor(key);
      try {
        await unlink(file);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    },

    async exists(key) {
      const file = pathFor(key);
      try {
        return (await stat(file)).isFile();
      } catch (error) {
        if (isMissing(error)) return false;
        throw error;
      }
    },

    async check() {
      // Writing a probe is the only honest test of "writable": access(W_OK) says yes to root even
      // on a read-only mount.
      const probe = path.join(root, `.health-${randomBytes(8).toString('hex')}.tmp`);
      try {
        await mkdir(root, { recursive: true, mode: DIRECTORY_MODE });
        const handle = await open(probe, 'wx', FILE_MODE);
        try {
          await handle.writeFile('ok');
        } finally {
          await handle.close();
        }
        await unlink(probe);
        return { ok: true };
      } catch (error) {
        await unlink(probe).catch(() => undefined);
        const code = errorCode(error);
        return { ok: false, detail: `Storage directory is not writable${code ? ` (${code})` : ''}.` };
      }
    },
  };
}

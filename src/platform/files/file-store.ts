// The port for storing file bodies (attachments, images). Adapters: a local directory (one server,
// development) and S3-compatible object storage (production). Bodies are always streams: a file can
// be 10 MB and twenty can arrive at once, so no adapter may hold a whole body in memory.
import type { Readable } from 'node:stream';

export interface FileStore {
  readonly name: 'local' | 's3';
  /**
   * Streams body under key; resolves once stored (durable). A body stream that errors stores nothing
   * (no partial object left) and rejects. Overwrites an existing key. An invalid key rejects with
   * InvalidStorageKey before the body is read.
   */
  put(key: string, body: Readable): Promise<{ sizeBytes: number }>;
  /** A stream of the stored bytes; rejects with StoredFileNotFound when nothing is stored under key. */
  get(key: string): Promise<Readable>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** For /health: can we reach the store (bucket exists / directory writable)? Never throws; returns {ok, detail}. */
  check(): Promise<{ ok: boolean; detail?: string }>;
}

export class StoredFileNotFound extends Error {
  constructor(key: string) {
    super(`Nothing is stored under '${key}'.`);
    this.name = new.target.name;
  }
}

export class InvalidStorageKey extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = new.target.name;
  }
}

export const MAX_STORAGE_KEY_LENGTH = 200;

// Segments of lower-case letters, digits and '-' joined by single '/': no dots at all, so no '..'
// and no way to reach outside the store or collide with an adapter's own '.'-named temp files.
const STORAGE_KEY = /^[a-z0-9-]+(?:\/[a-z0-9-]+)*$/;

/** keys are made by Dovecote (e.g. 'files/2026/12/<uuid>'), never from a user's file name: lower-case letters, digits, '-', '/', 1..200 chars, no leading '/', no '..' or empty segments. */
export function assertStorageKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_STORAGE_KEY_LENGTH) {
    throw new InvalidStorageKey(`A storage key must be 1 to ${MAX_STORAGE_KEY_LENGTH} characters.`);
  }
  if (!STORAGE_KEY.test(key)) {
    throw new InvalidStorageKey(
      "A storage key is segments of lower-case letters, digits and '-' separated by single '/'.",
    );
  }
}

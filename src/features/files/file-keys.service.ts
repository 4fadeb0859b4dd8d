// Rotating FILE_ENCRYPTION_KEYS (docs/files.md): an operator puts a new key first, keeps the old one
// after it, runs `npm run admin -- rewrap-file-keys`, and only then removes the old key. Each file's
// data key is unwrapped with the key it names and wrapped again under the newest one; the file's bytes
// are never touched (envelope.ts). A key removed before this has run leaves its files unreadable, so
// those files are reported, never skipped silently.
//
// Safe to run again (files already under the newest key are not selected) and beside a running server:
// a file re-wrapped twice still holds the same data key, and a file uploaded meanwhile by a server still
// on the old configuration is picked up by the next run.
import type { Db } from '../../platform/db/client.ts';
import { FileIntegrityError, FileKeyUnknownError, rewrapDataKey, type FileKey } from '../../platform/files/envelope.ts';
import { recordAudit } from '../audit/audit.service.ts';
import type { OperatorName } from '../operators/operator-actions.service.ts';
import { filesSealedWithOtherKeys, updateWrappedKey } from './files.repository.ts';

const DEFAULT_BATCH_SIZE = 500;

export interface UnopenableFile {
  fileId: string;
  keyId: string;
  /** 'key_unknown': the key it names is not configured; 'integrity': its wrapped key does not authenticate under it. */
  reason: 'key_unknown' | 'integrity';
}

export interface RewrapResult {
  /** The newest key, which every re-wrapped file now names. */
  keyId: string;
  rewrapped: number;
  /** Files whose data key could not be unwrapped: they cannot be opened until their key is configured again. */
  unopenable: UnopenableFile[];
}

/**
 * Re-wraps every stored file's data key under keys[0], `batchSize` files a transaction, each batch with
 * its 'operator.file_keys_rewrapped' audit event (so no batch lands without its record).
 */
export async function rewrapFileKeys(
  db: Db,
  keys: readonly FileKey[],
  operator: OperatorName,
  options: { batchSize?: number } = {},
): Promise<RewrapResult> {
  const newest = keys[0];
  if (!newest) throw new FileKeyUnknownError('no file encryption key is configured');
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const unopenable = new Map<string, UnopenableFile>();
  let rewrapped = 0;
  for (;;) {
    const done = await db.transaction(async (tx) => {
      // Files that cannot be unwrapped stay under their old key and would come back in every batch: ask
      // for that many more, so a batch always has room for files that can be re-wrapped.
      const candidates = (await filesSealedWithOtherKeys(tx, newest.id, batchSize + unopenable.size)).filter((file) => !unopenable.has(file.id));
      if (candidates.length === 0) return true;
      const fromKeyIds = new Set<string>();
      let inBatch = 0;
      for (const file of candidates.slice(0, batchSize)) {
        let sealed;
        try {
          sealed = rewrapDataKey(keys, { keyId: file.encryptionKeyId, wrappedKey: file.wrappedKey });
        } catch (error) {
          if (!(error instanceof FileKeyUnknownError || error instanceof FileIntegrityError)) throw error;
          unopenable.set(file.id, { fileId: file.id, keyId: file.encryptionKeyId, reason: error instanceof FileKeyUnknownError ? 'key_unknown' : 'integrity' });
          continue;
        }
        await updateWrappedKey(tx, file.id, sealed);
        fromKeyIds.add(file.encryptionKeyId);
        inBatch += 1;
      }
      if (inBatch > 0) {
        await recordAudit(tx, {
          type: 'operator.file_keys_rewrapped',
          actor: { type: 'operator', id: operator, ip: null },
          details: { toKeyId: newest.id, fromKeyIds: [...fromKeyIds].sort(), files: inBatch },
        });
      }
      rewrapped += inBatch;
      return false;
    });
    if (done) break;
  }
  return { keyId: newest.id, rewrapped, unopenable: [...unopenable.values()] };
}

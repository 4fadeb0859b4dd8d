// The file store, the scanner and the encryption keys, made once from the validated configuration.
// Services get them as one part; tests hand in their own (a store in a temp directory, a real clamd).
import type { FilesConfig } from '../../config/config.ts';
import { createClamdScanner } from './clamd-scanner.ts';
import type { FileKey } from './envelope.ts';
import type { FileStore } from './file-store.ts';
import { createLocalFileStore } from './local-file-store.ts';
import { createS3FileStore } from './s3-file-store.ts';
import { createNoScanner, type Scanner } from './scanner.ts';

export interface FileServices {
  store: FileStore;
  scanner: Scanner;
  /** Newest first (FILE_ENCRYPTION_KEYS). */
  keys: readonly FileKey[];
}

export function createFileServices(config: FilesConfig): FileServices {
  const { storage, scanner } = config;
  return {
    store:
      storage.kind === 's3'
        ? createS3FileStore({
            bucket: storage.bucket,
            region: storage.region,
            endpoint: storage.endpoint,
            forcePathStyle: storage.forcePathStyle,
            prefix: storage.prefix,
            credentials: storage.credentials,
          })
        : createLocalFileStore(storage.rootDir),
    scanner:
      scanner.kind === 'clamd'
        ? createClamdScanner(scanner.socket ? { socket: scanner.socket, timeoutMs: scanner.timeoutMs } : { host: scanner.host, port: scanner.port, timeoutMs: scanner.timeoutMs })
        : createNoScanner(),
    keys: config.encryptionKeys,
  };
}

// File bodies in S3-compatible object storage. Uploads are multipart and streamed with an unknown
// length, so memory per upload stays at about one part (5 MiB) whatever the file's size. A body that
// fails part-way aborts the multipart upload, so S3 never assembles a partial object.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { pipeline, Readable, Transform } from 'node:stream';
import { assertStorageKey, StoredFileNotFound } from './file-store.ts';
import type { FileStore } from './file-store.ts';

export interface S3FileStoreOptions {
  /** For S3-compatible services (MinIO, s3rver); omit for AWS. */
  endpoint?: string;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
  /** Keys are stored as `<prefix>/<key>`, so one bucket can be shared by environments. */
  prefix?: string;
  /** Omit to use the SDK's default chain (environment, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

// S3's minimum part size; one part in flight at a time keeps twenty concurrent 10 MB uploads near
// 100 MiB of buffers instead of growing with the files.
const PART_SIZE_BYTES = 5 * 1024 * 1024;
const PARTS_IN_FLIGHT = 1;
// /health must answer promptly even when the store is unreachable.
const CHECK_TIMEOUT_MS = 5000;

function statusOf(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
}

// GetObject says NoSuchKey; HeadObject has no body to say anything, so only its 404 tells.
function isNotFound(error: unknown): boolean {
  if (error instanceof S3ServiceException && (error.name === 'NoSuchKey' || error.name === 'NotFound')) return true;
  return statusOf(error) === 404;
}

function countingStream(onBytes: (count: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      onBytes(chunk.length);
      callback(null, chunk);
    },
  });
}

export function createS3FileStore(options: S3FileStoreOptions): FileStore {
  const client = new S3Client({
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  const bucket = options.bucket;
  const prefix = options.prefix ? `${options.prefix.replace(/\/+$/, '')}/` : '';

  function objectKey(key: string): string {
    assertStorageKey(key);
    return prefix + key;
  }

  return {
    name: 's3',

    async put(key, body) {
      const Key = objectKey(key);
      let sizeBytes = 0;
      let bodyError: unknown;
      // pipeline carries an error in body on to the counted stream, which is what Upload reads.
      const counted = countingStream((count) => {
        sizeBytes += count;
      });
      pipeline(body, counted, (error) => {
        if (error) bodyError = error;
      });
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key, Body: counted },
        partSize: PART_SIZE_BYTES,
        queueSize: PARTS_IN_FLIGHT,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (error) {
        // A failed upload (network, permissions) must not leave the sender's stream half-read.
        counted.destroy();
        body.destroy();
        // When the abort of a multipart upload fails too, Upload reports that instead; the sender's
        // error is the one that explains what happened. Unassembled parts are never an object (a
        // bucket lifecycle rule for incomplete multipart uploads clears them).
        throw bodyError ?? error;
      }
      return { sizeBytes };
    },

    async get(key) {
      const Key = objectKey(key);
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
        if (!(response.Body instanceof Readable)) {
          throw new Error('S3 GetObject returned a body that is not a Node stream.');
        }
        return response.Body;
      } catch (error) {
        if (isNotFound(error)) throw new StoredFileNotFound(key);
        throw error;
      }
    },

    async delete(key) {
      // S3 answers 204 for a missing key too, so this is idempotent as it stands.
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
    },

    async exists(key) {
      const Key = objectKey(key);
      try {
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key }));
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
    },

    async check() {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }), {
          abortSignal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
        });
        return { ok: true };
      } catch (error) {
        const status = statusOf(error);
        if (status === 404) return { ok: false, detail: `Bucket '${bucket}' does not exist.` };
        if (status === 403) return { ok: false, detail: `Access to bucket '${bucket}' is denied.` };
        const reason = error instanceof Error ? error.name : 'unknown error';
        return { ok: false, detail: `Cannot reach bucket '${bucket}' (${status ?? reason}).` };
      }
    },
  };
}

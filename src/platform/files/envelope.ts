// Encryption at rest done by Dovecote itself, whatever the object store: a leaked bucket or backup
// holds only ciphertext. Envelope scheme: each file has its own random 256-bit data key; the data key is
// stored wrapped by a configured key-encryption key (KEK), so rotating a KEK re-wraps 60 bytes per file
// instead of re-encrypting the files.
//
// File format (STREAM construction, Hoang–Reyhanitabar–Rogaway–Vizár 2015), so files are streamed and
// decryption never releases plaintext that has not been authenticated:
//   header (16 bytes): 'DCF1' | version (1) | chunk size (4, BE) | nonce prefix (7, random)
//   chunks: AES-256-GCM(plaintext chunk) || tag (16); every chunk but the last holds exactly CHUNK_SIZE
//   plaintext bytes; the last holds 0..CHUNK_SIZE (an empty file is one empty final chunk).
//   nonce = prefix (7) || chunk counter (4, BE) || last-chunk flag (1)
//   AAD   = header || UTF-8(context)
// The counter stops reordering, the last-chunk flag stops truncation at a chunk boundary and appending,
// the header in the AAD stops header edits, and the context (the file's id) stops a ciphertext being
// swapped onto another record.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface FileKey {
  id: string;
  secret: Buffer;
}

export interface SealedDataKey {
  keyId: string;
  /** base64url: nonce (12) || ciphertext (32) || tag (16). */
  wrappedKey: string;
}

/** FILE_ENCRYPTION_KEYS (or the named setting) is malformed: a start-up fault. */
export class FileKeyConfigError extends Error {
  override name = 'FileKeyConfigError';
}

/** The ciphertext, its header, its wrapped key or its context does not authenticate: tampering, truncation or the wrong record. */
export class FileIntegrityError extends Error {
  override name = 'FileIntegrityError';
}

/** The file's data key is wrapped by a KEK that is no longer configured: a deployment fault (a key removed before re-wrapping). */
export class FileKeyUnknownError extends Error {
  override name = 'FileKeyUnknownError';
}

const MAGIC = Buffer.from('DCF1', 'ascii');
const FORMAT_VERSION = 1;
const CHUNK_SIZE = 64 * 1024;
const NONCE_PREFIX_BYTES = 7;
const HEADER_BYTES = MAGIC.length + 1 + 4 + NONCE_PREFIX_BYTES;
const TAG_BYTES = 16;
const NONCE_BYTES = 12;
const DATA_KEY_BYTES = 32;
const KEK_BYTES = 32;
const MAX_CHUNKS = 2 ** 32; // the counter is 4 bytes; reusing a nonce under one key would break GCM
const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]+={0,2}$/;
// Binds a wrapped data key to its purpose and to the KEK id, so a wrapped key cannot be replayed as
// something else or relabelled with another key id.
const WRAP_AAD_LABEL = 'dovecote/file-data-key/v1:';

/** 'id:base64url,...' newest first; ids [A-Za-z0-9_-]{1,32}, unique; each secret 32 bytes after base64url decoding. */
export function parseFileKeys(raw: string, settingName = 'FILE_ENCRYPTION_KEYS'): FileKey[] {
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new FileKeyConfigError(`${settingName} is empty: give at least one id:base64url-secret`);
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const sep = entry.indexOf(':');
    if (sep < 0) throw new FileKeyConfigError(`${settingName} entry ${index + 1} must be id:base64url-secret`);
    const id = entry.slice(0, sep);
    const encoded = entry.slice(sep + 1);
    if (!KEY_ID_PATTERN.test(id)) {
      throw new FileKeyConfigError(`${settingName} entry ${index + 1}: key id must be 1-32 characters of A-Z a-z 0-9 _ -`);
    }
    if (seen.has(id)) throw new FileKeyConfigError(`${settingName} lists key id "${id}" more than once`);
    seen.add(id);
    // Buffer.from silently skips characters outside the alphabet, so a typo would shorten the key unnoticed.
    if (!BASE64URL_PATTERN.test(encoded)) throw new FileKeyConfigError(`${settingName} key "${id}": secret is not base64url`);
    const secret = Buffer.from(encoded, 'base64url');
    if (secret.length !== KEK_BYTES) {
      throw new FileKeyConfigError(`${settingName} key "${id}": secret must be exactly ${KEK_BYTES} bytes, got ${secret.length}`);
    }
    return { id, secret };
  });
}

/** A new data key, wrapped by keys[0]; encrypt(context) gives a Transform plaintext → ciphertext. */
export function newFileEncryption(keys: readonly FileKey[]): { sealed: SealedDataKey; encrypt(context: string): Transform } {
  const dataKey = randomBytes(DATA_KEY_BYTES);
  const sealed = wrapDataKey(newestKey(keys), dataKey);
  return { sealed, encrypt: (context: string) => new EncryptingStream(dataKey, context) };
}

/** Transform ciphertext → plaintext; unknown keyId → FileKeyUnknownError (a deployment fault: a removed key). */
export function decryptFile(keys: readonly FileKey[], sealed: SealedDataKey, context: string): Transform {
  const kek = findKey(keys, sealed.keyId); // thrown at once: nothing can be served without the key
  let dataKey: Buffer | FileIntegrityError;
  try {
    dataKey = unwrapDataKey(kek, sealed);
  } catch (err) {
    if (!(err instanceof FileIntegrityError)) throw err;
    dataKey = err;
  }
  return new DecryptingStream(dataKey, context);
}

/** Rotation: the same data key wrapped by keys[0] (the file's bytes are untouched). */
export function rewrapDataKey(keys: readonly FileKey[], sealed: SealedDataKey): SealedDataKey {
  const dataKey = unwrapDataKey(findKey(keys, sealed.keyId), sealed);
  try {
    return wrapDataKey(newestKey(keys), dataKey);
  } finally {
    dataKey.fill(0);
  }
}

/** Exact ciphertext length for a plaintext of plainBytes, for checking an upload or a stored object. */
export function encryptedSize(plainBytes: number): number {
  if (!Number.isSafeInteger(plainBytes) || plainBytes < 0) throw new RangeError('plainBytes must be a non-negative integer');
  const chunks = Math.max(1, Math.ceil(plainBytes / CHUNK_SIZE));
  return HEADER_BYTES + plainBytes + chunks * TAG_BYTES;
}

function newestKey(keys: readonly FileKey[]): FileKey {
  const key = keys[0];
  if (!key) throw new FileKeyConfigError('no file encryption key is configured');
  return key;
}

function findKey(keys: readonly FileKey[], keyId: string): FileKey {
  const key = keys.find((k) => k.id === keyId);
  if (!key) throw new FileKeyUnknownError(`file data key is wrapped by key "${keyId}", which is not configured`);
  return key;
}

function wrapAad(keyId: string): Buffer {
  return Buffer.from(WRAP_AAD_LABEL + keyId, 'utf8');
}

function wrapDataKey(kek: FileKey, dataKey: Buffer): SealedDataKey {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek.secret, nonce);
  cipher.setAAD(wrapAad(kek.id));
  const ciphertext = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  return { keyId: kek.id, wrappedKey: Buffer.concat([nonce, ciphertext, cipher.getAuthTag()]).toString('base64url') };
}

function unwrapDataKey(kek: FileKey, sealed: SealedDataKey): Buffer {
  const wrapped = Buffer.from(sealed.wrappedKey, 'base64url');
  if (wrapped.length !== NONCE_BYTES + DATA_KEY_BYTES + TAG_BYTES) throw new FileIntegrityError('wrapped data key has the wrong length');
  const decipher = createDecipheriv('aes-256-gcm', kek.secret, wrapped.subarray(0, NONCE_BYTES));
  decipher.setAAD(wrapAad(kek.id));
  decipher.setAuthTag(wrapped.subarray(NONCE_BYTES + DATA_KEY_BYTES));
  try {
    return Buffer.concat([decipher.update(wrapped.subarray(NONCE_BYTES, NONCE_BYTES + DATA_KEY_BYTES)), decipher.final()]);
  } catch {
    throw new FileIntegrityError('wrapped data key does not authenticate (wrong key or tampered)');
  }
}

function chunkNonce(prefix: Buffer, counter: number, last: boolean): Buffer {
  if (counter >= MAX_CHUNKS) throw new FileIntegrityError('file has too many chunks');
  const nonce = Buffer.alloc(NONCE_BYTES);
  prefix.copy(nonce, 0);
  nonce.writeUInt32BE(counter, NONCE_PREFIX_BYTES);
  nonce[NONCE_BYTES - 1] = last ? 1 : 0;
  return nonce;
}

/** Incoming pieces kept as a list so tiny writes do not cost a copy of the whole buffer each time. */
class ByteQueue {
  private pieces: Buffer[] = [];
  length = 0;

  push(piece: Buffer): void {
    if (piece.length === 0) return;
    this.pieces.push(piece);
    this.length += piece.length;
  }

  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const piece = this.pieces[0]!;
      const wanted = n - filled;
      if (piece.length <= wanted) {
        piece.copy(out, filled);
        filled += piece.length;
        this.pieces.shift();
      } else {
        piece.copy(out, filled, 0, wanted);
        this.pieces[0] = piece.subarray(wanted);
        filled += wanted;
      }
    }
    this.length -= n;
    return out;
  }
}

class EncryptingStream extends Transform {
  private readonly dataKey: Buffer;
  private readonly header: Buffer;
  private readonly aad: Buffer;
  private readonly noncePrefix = randomBytes(NONCE_PREFIX_BYTES);
  private readonly pending = new ByteQueue();
  private counter = 0;
  private headerSent = false;

  constructor(dataKey: Buffer, context: string) {
    super();
    this.dataKey = dataKey;
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header[MAGIC.length] = FORMAT_VERSION;
    header.writeUInt32BE(CHUNK_SIZE, MAGIC.length + 1);
    this.noncePrefix.copy(header, MAGIC.length + 5);
    this.header = header;
    this.aad = Buffer.concat([header, Buffer.from(context, 'utf8')]);
  }

  override _transform(piece: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.sendHeader();
      this.pending.push(piece);
      // Strictly more than a chunk: only then is it certain this chunk is not the last one.
      while (this.pending.length > CHUNK_SIZE) this.seal(this.pending.take(CHUNK_SIZE), false);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.sendHeader();
      this.seal(this.pending.take(this.pending.length), true);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  private sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.push(this.header);
  }

  private seal(plaintext: Buffer, last: boolean): void {
    const cipher = createCipheriv('aes-256-gcm', this.dataKey, chunkNonce(this.noncePrefix, this.counter++, last));
    cipher.setAAD(this.aad);
    const body = cipher.update(plaintext);
    const tail = cipher.final();
    this.push(Buffer.concat([body, tail, cipher.getAuthTag()]));
  }
}

class DecryptingStream extends Transform {
  private readonly dataKey: Buffer | FileIntegrityError;
  private readonly context: Buffer;
  private readonly pending = new ByteQueue();
  private aad: Buffer | undefined;
  private noncePrefix: Buffer | undefined;
  private counter = 0;

  constructor(dataKey: Buffer | FileIntegrityError, context: string) {
    super();
    this.dataKey = dataKey;
    this.context = Buffer.from(context, 'utf8');
  }

  override _transform(piece: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.pending.push(piece);
      if (!this.readHeader()) return callback();
      // A full sealed chunk with more bytes after it cannot be the last chunk.
      while (this.pending.length > CHUNK_SIZE + TAG_BYTES) this.open(this.pending.take(CHUNK_SIZE + TAG_BYTES), false);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (!this.readHeader()) throw new FileIntegrityError('encrypted file is shorter than its header');
      if (this.pending.length < TAG_BYTES) throw new FileIntegrityError('encrypted file is truncated');
      this.open(this.pending.take(this.pending.length), true);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  /** False until the whole header has arrived. */
  private readHeader(): boolean {
    if (this.aad) return true;
    if (this.dataKey instanceof FileIntegrityError) throw this.dataKey;
    if (this.pending.length < HEADER_BYTES) return false;
    const header = this.pending.take(HEADER_BYTES);
    if (!header.subarray(0, MAGIC.length).equals(MAGIC)) throw new FileIntegrityError('not a Dovecote encrypted file');
    if (header[MAGIC.length] !== FORMAT_VERSION) throw new FileIntegrityError(`unsupported encrypted file version ${header[MAGIC.length]}`);
    // The chunk size is authenticated with every chunk, but checking it first bounds how much is buffered.
    if (header.readUInt32BE(MAGIC.length + 1) !== CHUNK_SIZE) throw new FileIntegrityError('unsupported chunk size');
    this.noncePrefix = header.subarray(MAGIC.length + 5);
    this.aad = Buffer.concat([header, this.context]);
    return true;
  }

  private open(sealedChunk: Buffer, last: boolean): void {
    const dataKey = this.dataKey as Buffer;
    const decipher = createDecipheriv('aes-256-gcm', dataKey, chunkNonce(this.noncePrefix!, this.counter++, last));
    decipher.setAAD(this.aad!);
    decipher.setAuthTag(sealedChunk.subarray(sealedChunk.length - TAG_BYTES));
    let plaintext: Buffer;
    try {
      // Held back until final() has checked the tag, so no byte of a forged chunk is released.
      plaintext = Buffer.concat([decipher.update(sealedChunk.subarray(0, sealedChunk.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new FileIntegrityError(`encrypted file chunk ${this.counter - 1} does not authenticate (tampered, truncated, reordered, wrong key or wrong record)`);
    }
    this.push(plaintext);
  }
}

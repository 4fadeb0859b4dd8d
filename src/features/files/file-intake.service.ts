// Taking a file in: the one path every upload goes through (a staff document, a patient's attachment).
// The order is the threat model's:
//   1. the first bytes decide what it is (content-check.ts), never the name or the browser's type;
//   2. it is counted as it streams, and refused past the limit;
//   3. it is encrypted under its own data key on its way to the store, so no plaintext is ever written;
//   4. it is read back, decrypted and streamed to the scanner; anything but "clean" (infected, an error,
//      a time-out, over the scanner's limits) deletes it: fail closed;
//   5. only then does it get a row, so no page can show or serve a file that was not checked.
import { createHash, randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { Services } from '../../services.ts';
import { checkFileHead, cleanFileName, HEAD_BYTES, pdfActiveContentScanner, type AllowedType } from '../../platform/files/content-check.ts';
import { decryptFile, newFileEncryption } from '../../platform/files/envelope.ts';
import { ScanFailed } from '../../platform/files/scanner.ts';
import { StoredFileNotFound } from '../../platform/files/file-store.ts';
import { asFormError } from '../../platform/http/multipart.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { insertFile, markFileDeleted, type FilePurpose, type FileRow } from './files.repository.ts';

export type FileRefusal = 'too_large' | 'not_allowed' | 'disguised' | 'active_content' | 'empty' | 'infected' | 'scan_failed' | 'too_many' | 'limited';

export type IntakeResult = { ok: true; file: FileRow } | { ok: false; refusal: FileRefusal };

export interface IntakeInput {
  body: Readable;
  originalName: string | undefined;
  purpose: FilePurpose;
  allowed: readonly AllowedType[];
  maxBytes: number;
  organisationId: string;
  /** A patient's attachment belongs to its conversation from the start; a document gets one when sent. */
  conversationId: string | null;
  draftKey: string;
  uploadedByStaffId: string | null;
  /** Days a document can be opened; unset for attachments. */
  availableDays?: number;
  actor: AuditActor;
  patientId?: string | null;
}

class TooLarge extends Error {}

/** A file whose bytes are no longer in the store (its time was up, or it was removed). */
export class FileGone extends Error {}


/** Counts and hashes the bytes as they pass, and errors once there are more than `maxBytes`. */
function measuring(maxBytes: number) {
  const hash = createHash('sha256');
  let size = 0;
  let exceeded = false;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      size += chunk.length;
      if (size > maxBytes) {
        // Kept as a flag: which error reaches the store's put first (ours, or the store's own abort)
        // is a race, and "too large" must not turn into a server error by losing it.
        exceeded = true;
        callback(new TooLarge());
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  return { stream, exceeded: () => exceeded, result: () => ({ size, sha256: hash.digest('hex') }) };
}

/**
 * The first HEAD_BYTES (or all of a shorter file), a stream of the whole file from its start, and a way
 * to read what is left after a refusal (through the same iterator, so the upload's stream is never
 * destroyed: a form's later parts still arrive).
 */
async function splitHead(body: Readable): Promise<{ head: Buffer; whole: Readable; drainRest: () => Promise<void> }> {
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < HEAD_BYTES) {
    const next = await iterator.next().catch((error: unknown) => {
      throw asFormError(error);
    });
    if (next.done) {
      done = true;
      break;
    }
    chunks.push(next.value);
    length += next.value.length;
  }
  const start = Buffer.concat(chunks);
  async function* rest() {
    yield start;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  async function drainRest() {
    if (done) return;
    for (;;) {
      const next = await iterator.next().catch(() => ({ done: true as const, value: undefined }));
      if (next.done) return;
    }
  }
  return { head: start.subarray(0, HEAD_BYTES), whole: Readable.from(rest(), { objectMode: false }), drainRest };
}

function storageKeyFor(id: string, now: Date): string {
  return `files/${now.getUTCFullYear()}/${String(now.getUTCMonth() + 1).padStart(2, '0')}/${id}`;
}

async function refuse(services: Services, input: IntakeInput, refusal: FileRefusal, details: Record<string, unknown> = {}): Promise<IntakeResult> {
  await recordAudit(services.db, {
    type: 'file.refused',
    actor: input.actor,
    organisationId: input.organisationId,
    patientId: input.patientId ?? null,
    conversationId: input.conversationId,
    details: { purpose: input.purpose, reason: refusal, ...details },
  });
  return { ok: false, refusal };
}

export async function takeFile(services: Services, input: IntakeInput): Promise<IntakeResult> {
  const { store, scanner, keys } = services.files;
  let uploadBroke: Error | undefined;
  input.body.once('error', (error: Error) => (uploadBroke = error));
  const { head, whole, drainRest } = await splitHead(input.body);
  const verdict = await checkFileHead(head, input.allowed);
  if (!verdict.ok) {
    await drainRest();
    return refuse(services, input, verdict.reason === 'empty' ? 'empty' : verdict.reason, verdict.detected ? { detected: verdict.detected } : {});
  }

  const now = services.now();
  const id = randomUUID();
  const storageKey = storageKeyFor(id, now);
  const { sealed, encrypt } = newFileEncryption(keys);
  const measure = measuring(input.maxBytes);
  const pdfCheck = verdict.mediaType === 'application/pdf' ? pdfActiveContentScanner() : undefined;
  const stages = [whole, measure.stream, ...(pdfCheck ? [pdfCheck.stream] : []), encrypt(id)] as const;
  // Errors end the put (the store sees its body fail); which one it was is read from the flags below.
  const encrypted = pipeline(stages as unknown as [Readable, Transform], () => undefined) as unknown as Readable;
  try {
    await store.put(storageKey, encrypted);
  } catch (error) {
    await store.delete(storageKey).catch(() => undefined);
    if (measure.exceeded()) {
      await drainRest();
      return refuse(services, input, 'too_large');
    }
    // The upload itself broke (the browser went away, a body cut short): the sender's problem, not
    // the store's. Anything else is the store failing, and stays a server error.
    if (uploadBroke) throw asFormError(uploadBroke);
    throw error;
  }
  const { size, sha256 } = measure.result();
  const discard = () => store.delete(storageKey);

  const activeContent = pdfCheck?.result().activeContent ?? [];
  if (activeContent.length > 0) {
    await discard();
    return refuse(services, input, 'active_content', { found: activeContent });
  }

  let scanEngine: string;
  let scanStatus: 'clean' | 'unscanned';
  try {
    // pipeline, not pipe: when the scanner gives up it destroys what it reads, and that must reach the
    // stored object's stream too, or its file handle stays open until garbage collection.
    const plaintext = pipeline(await store.get(storageKey), decryptFile(keys, sealed, id), () => undefined) as unknown as Readable;
    const scan = await scanner.scan(plaintext);
    if (scan.outcome === 'infected') {
      await discard();
      services.log.warn({ purpose: input.purpose, organisationId: input.organisationId, signature: scan.signature }, 'an uploaded file was refused: the scanner found malware');
      return refuse(services, input, 'infected', { signature: scan.signature, engine: scan.engine });
    }
    scanEngine = scan.engine;
    scanStatus = scan.outcome === 'clean' ? 'clean' : 'unscanned';
  } catch (error) {
    await discard();
    if (!(error instanceof ScanFailed)) throw error;
    // Fail closed: not knowing is a refusal. Operators need to hear of it (the scanner may be down).
    services.log.error({ purpose: input.purpose, reason: error.reason, err: error }, 'an uploaded file was refused: it could not be scanned');
    // Under its own name: `reason` is the refusal's (scan_failed), which the audit trail is searched by.
    return refuse(services, input, 'scan_failed', { scanFailure: error.reason });
  }
  if (scanStatus === 'unscanned') {
    services.log.warn({ purpose: input.purpose }, 'FILE_SCANNER=none: an uploaded file was stored without a virus scan (development only)');
  }

  // A row, or no bytes: a file in the store with no row would never be found again, nor deleted.
  const file = await insertFile(services.db, {
    id,
    organisationId: input.organisationId,
    purpose: input.purpose,
    conversationId: input.conversationId,
    draftKey: input.draftKey,
    uploadedByStaffId: input.uploadedByStaffId,
    fileName: cleanFileName(input.originalName, verdict.extension),
    mediaType: verdict.mediaType,
    sizeBytes: size,
    sha256,
    storageKey,
    encryptionKeyId: sealed.keyId,
    wrappedKey: sealed.wrappedKey,
    scanStatus,
    scanEngine,
    createdAt: now,
    availableUntil: input.availableDays ? new Date(now.getTime() + input.availableDays * 86_400_000) : null,
  }).catch(async (error: unknown) => {
    await discard().catch(() => undefined);
    throw error;
  });
  await recordAudit(services.db, {
    type: 'file.uploaded',
    actor: input.actor,
    organisationId: input.organisationId,
    patientId: input.patientId ?? null,
    conversationId: input.conversationId,
    details: { fileId: id, purpose: input.purpose, mediaType: verdict.mediaType, sizeBytes: size, scanStatus },
  });
  return { ok: true, file };
}

/** The file's bytes, decrypted as they stream; a tampered or truncated file errors the stream. */
export async function openFile(services: Services, file: FileRow): Promise<Readable> {
  const { store, keys } = services.files;
  const stored = await store.get(file.storageKey).catch((error: unknown) => {
    // Deleted between reading the row and opening the bytes (maintenance, a removal): gone, not broken.
    if (error instanceof StoredFileNotFound) throw new FileGone();
    throw error;
  });
  const plaintext = decryptFile(keys, { keyId: file.encryptionKeyId, wrappedKey: file.wrappedKey }, file.id);
  return pipeline(stored, plaintext, () => undefined) as unknown as Readable;
}

/** A file's bytes gone from the store, its record kept (deleted_at), and an audit event saying why. */
export async function deleteFileBytes(services: Services, file: FileRow, reason: 'expired' | 'abandoned' | 'removed', actor: AuditActor): Promise<void> {
  await services.files.store.delete(file.storageKey);
  await markFileDeleted(services.db, file.id, services.now());
  await recordAudit(services.db, {
    type: 'file.deleted',
    actor,
    organisationId: file.organisationId,
    conversationId: file.conversationId,
    details: { fileId: file.id, purpose: file.purpose, reason },
  });
}

// Forms with files (multipart/form-data), read as a stream: a file goes from the socket to the file
// store through the checks, and is never held whole in memory. The CSRF check (security.ts) reads
// `_csrf` from the body before any handler runs, so the form's first part must be that field; this
// hook reads only that part before the check, and leaves the rest of the request unread for the
// handler. A cross-site post therefore stores nothing: it fails before a byte of its file is read.
import type { FastifyInstance, FastifyRequest, preValidationHookHandler } from 'fastify';
import fastifyMultipart from '@fastify/multipart';
import type { Readable } from 'node:stream';
import { AppError } from './errors.ts';
import { finished } from 'node:stream/promises';

export interface MultipartLimits {
  /** Files a form may carry (one more is refused by the handler, not cut off silently). */
  files: number;
  /** The largest file taken, in bytes. */
  fileBytes: number;
}

export type MultipartPart =
  | { type: 'field'; name: string; value: string }
  | { type: 'file'; name: string; fileName: string; stream: Readable };

export interface MultipartForm {
  /** The parts after `_csrf`, in the order the browser sent them (the form's order). */
  parts(): AsyncGenerator<MultipartPart>;
}

declare module 'fastify' {
  interface FastifyRequest {
    multipartForm: MultipartForm | null;
  }
}

const FIELD_BYTES = 100_000;

/**
 * A multipart body the parser could not read (no boundary, cut off, the client gone mid-upload): the
 * sender's fault, a 400, never a 500. The parser's own limit errors carry their status (413) already.
 */
export class UnreadableForm extends AppError {
  constructor(detail: string) {
    super(400, 'Your form could not be read. Go back and try again.', detail);
    this.name = 'UnreadableForm';
  }
}

export function asFormError(error: unknown): unknown {
  if (error instanceof AppError) return error;
  const status = (error as { statusCode?: number } | null)?.statusCode;
  if (typeof status === 'number' && status < 500) return error;
  return new UnreadableForm((error as Error)?.message ?? String(error));
}

/** A field longer than the parser keeps would be cut short without a word: refused instead. */
function fieldValue(part: { valueTruncated: boolean; value: unknown }): string {
  if (part.valueTruncated) throw new AppError(413, 'Something you entered is too long to send.', 'a multipart field over the field size limit');
  return typeof part.value === 'string' ? part.value : '';
}

async function nextPart<T>(iterator: AsyncIterator<T>): Promise<IteratorResult<T>> {
  try {
    return await iterator.next();
  } catch (error) {
    throw asFormError(error);
  }
}

export async function registerMultipart(app: FastifyInstance): Promise<void> {
  // Limits here are the outer bounds; each route passes its own to readMultipartForm.
  await app.register(fastifyMultipart, { throwFileSizeLimit: false });
  app.decorateRequest('multipartForm', null);
}

/**
 * A preValidation hook for a route that takes files. A request that is not multipart is left alone
 * (its body was parsed as usual). The file-size limit given to the parser is one byte over the route's,
 * so a file that is too big is seen to be too big (and the rest of it discarded by the parser) rather
 * than quietly cut to size.
 */
export function readMultipartForm(limits: (request: FastifyRequest) => MultipartLimits): preValidationHookHandler {
  return async (request) => {
    if (!request.isMultipart()) return;
    const { files, fileBytes } = limits(request);
    let iterator: ReturnType<FastifyRequest['parts']>;
    try {
      iterator = request.parts({
        // A few files over the route's number are read (and refused by name) so the patient hears which; far more is a 413.
        limits: { files: files + 10, fileSize: fileBytes + 1, fields: 40, fieldSize: FIELD_BYTES, parts: files + 50 },
      });
    } catch (error) {
      throw asFormError(error);
    }
    const first = await nextPart(iterator);
    let pending = first.done ? undefined : first.value;
    if (pending?.type === 'field' && pending.fieldname === '_csrf') {
      request.body = { _csrf: fieldValue(pending) };
      pending = undefined;
    } else {
      // No token first: the CSRF check refuses it. Nothing further is read.
      request.body = {};
    }
    request.multipartForm = {
      async *parts() {
        const toPart = (part: NonNullable<typeof pending>): MultipartPart =>
          part.type === 'field'
            ? { type: 'field', name: part.fieldname, value: fieldValue(part) }
            : { type: 'file', name: part.fieldname, fileName: part.filename, stream: part.file };
        if (pending) yield toPart(pending);
        for (;;) {
          const next = await nextPart(iterator);
          if (next.done) return;
          yield toPart(next.value);
        }
      },
    };
  };
}

/**
 * Lets multipart/form-data into a plugin scope whose inherited parsers were replaced (the API's are JSON
 * only), for request.parts() to read. @fastify/multipart's own parser does nothing but mark the request
 * as multipart and leave the body unread; this does the same (request.parts() asks isMultipart()),
 * because that plugin can be registered only once, at the root.
 */
export function acceptMultipart(scope: FastifyInstance): void {
  scope.addContentTypeParser('multipart/form-data', (request, _payload, done) => {
    Object.defineProperty(request, 'isMultipart', { value: () => true });
    done(null);
  });
}

/**
 * The parts of a multipart request, in the order sent, with no CSRF rule: for routes authenticated
 * by a header (the API's key), which a cross-site form cannot send. The limits are as
 * readMultipartForm's: a file one byte over `fileBytes` is seen to be too big, not cut to size.
 */
export function multipartParts(request: FastifyRequest, limits: MultipartLimits & { fields: number }): AsyncGenerator<MultipartPart> {
  const iterator = request.parts({
    limits: { files: limits.files, fileSize: limits.fileBytes + 1, fields: limits.fields, fieldSize: FIELD_BYTES, parts: limits.files + limits.fields },
  });
  return (async function* () {
    for (;;) {
      const next = await nextPart(iterator);
      if (next.done) return;
      const part = next.value;
      yield part.type === 'field'
        ? { type: 'field', name: part.fieldname, value: fieldValue(part) }
        : { type: 'file', name: part.fieldname, fileName: part.filename, stream: part.file };
    }
  })();
}

/** Reads the rest of a file part without keeping it, so the parts after it (and the response) can go on. */
export async function drainPart(stream: Readable): Promise<void> {
  await finished(stream.resume()).catch(() => undefined);
}

/** A plain (urlencoded) form body's text fields, as collectMultipartForm gives a multipart one's. */
export function textFields(body: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries((body ?? {}) as Record<string, unknown>)) if (typeof value === 'string') fields[name] = value;
  return fields;
}

/**
 * Reads a whole multipart form: text fields into a record (a repeated name keeps its last value, as
 * forms here never repeat one), each file handed to `onFile` as it arrives (which must read or drain
 * it before the next part can arrive). An empty file input sends a part with no name and no bytes:
 * skipped.
 */
export async function collectMultipartForm(
  form: MultipartForm,
  onFile: (file: { name: string; fileName: string; stream: Readable; fields: Record<string, string> }) => Promise<void>,
): Promise<Record<string, string>> {
  const fields: Record<string, string> = {};
  for await (const part of form.parts()) {
    if (part.type === 'field') {
      fields[part.name] = part.value;
    } else if (part.fileName === '') {
      await drainPart(part.stream);
    } else {
      await onFile({ name: part.name, fileName: part.fileName, stream: part.stream, fields });
    }
  }
  return fields;
}

// Sending a stored file to a browser. The bytes were checked on the way in; these headers make sure a
// browser treats them only as what they were checked to be: the type from the sniffed bytes, never
// guessed again (nosniff); a sandbox with nothing allowed, so even a file that slipped past every check
// runs no script with Dovecote's origin; no caching anywhere (a shared computer's cache holds nothing);
// and a download name that cannot break the header.
import type { FastifyReply } from 'fastify';
import type { Readable } from 'node:stream';
import { contentDisposition } from '../../platform/files/content-check.ts';
import type { FileRow } from './files.repository.ts';

export const FILE_CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; object-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'; sandbox";
// A PDF opened in the browser: Chromium blocks its PDF viewer in a sandboxed document (not checked
// here: headless Chromium downloads PDFs instead of showing them), so the sandbox is left out for it alone. What stands instead: the exact type (nosniff), PDFs with scripts refused
// on the way in, nothing else allowed to load, and no framing.
const INLINE_PDF_CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; object-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'";

export function sendStoredFile(reply: FastifyReply, file: FileRow, bytes: Readable, disposition: 'inline' | 'attachment'): FastifyReply {
  return reply
    .header('Content-Type', file.mediaType)
    .header('Content-Length', String(file.sizeBytes))
    .header('Content-Disposition', contentDisposition(disposition, file.fileName))
    .header('X-Content-Type-Options', 'nosniff')
    .header('Cache-Control', 'no-store')
    .header('Content-Security-Policy', disposition === 'inline' && file.mediaType === 'application/pdf' ? INLINE_PDF_CONTENT_SECURITY_POLICY : FILE_CONTENT_SECURITY_POLICY)
    .header('Cross-Origin-Resource-Policy', 'same-origin')
    .send(bytes);
}

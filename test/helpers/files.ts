// Files for tests: real PDFs, JPEGs and PNGs (made here, not downloaded), disguised ones, the EICAR
// test string, and a multipart body built the way a browser builds one (with FormData), for app.inject.
import sharp from 'sharp';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { csrfFrom, type CookieJar } from './factories.ts';
import { get } from './patient.ts';
import { newSubmissionId } from '../../src/features/staff/staff-submissions.ts';
export { EICAR } from './clamd.ts';

/** A small, valid one-page PDF with the words given on it. */
export function samplePdf(words = 'Blood test results: all normal', padTo = 0): Buffer {
  const stream = `BT /F1 18 Tf 72 720 Td (${words.replace(/[()\\]/g, '')}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, i) => {
    offsets.push(body.length);
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  const pdf = Buffer.from(body, 'latin1');
  // Padding as a PDF comment after %%EOF: still a PDF, as big as a test needs.
  return padTo > pdf.length ? Buffer.concat([pdf, Buffer.from('%'), Buffer.alloc(padTo - pdf.length - 2, 0x41), Buffer.from('\n')]) : pdf;
}

/** A JPEG; `noisy` makes one that does not compress away (for a file of real size). */
export function sampleJpeg(width = 64, height = 48, noisy = false): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#c0392b', ...(noisy && { noise: { type: 'gaussian' as const, mean: 128, sigma: 60 } }) } })
    .jpeg()
    .toBuffer();
}

export function samplePng(width = 32, height = 32): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: '#005eb8' } }).png().toBuffer();
}

export const HTML_AS_PDF = Buffer.from('<!doctype html><html><body><script>alert(document.cookie)</script></body></html>');

/** Starts as a PDF, and carries a page a browser would run if it sniffed it. */
export const PDF_HTML_POLYGLOT = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from('<html><script>alert(1)</script></html>\n%%EOF\n')]);

export type MultipartValue = string | { fileName: string; content: Buffer; type?: string };

/** A multipart/form-data body in the order given (browsers send a form's fields in document order). */
export async function multipart(fields: Array<[string, MultipartValue]>): Promise<{ payload: Buffer; contentType: string }> {
  const form = new FormData();
  for (const [name, value] of fields) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, new Blob([new Uint8Array(value.content)], { type: value.type ?? 'application/octet-stream' }), value.fileName);
  }
  const response = new Response(form);
  return { payload: Buffer.from(await response.arrayBuffer()), contentType: response.headers.get('content-type')! };
}

/**
 * POST a multipart form as a browser would: `_csrf` first (read from `csrfPage` unless given; null
 * sends none), then the fields and files in order. A staff form gets a fresh send-form `submissionId`
 * after `_csrf` unless the fields have one (`submissionId: null` in opts sends none).
 */
export async function postMultipart(
  app: FastifyInstance,
  url: string,
  jar: CookieJar,
  fields: Array<[string, MultipartValue]>,
  opts: { csrfPage?: string; csrf?: string | null; submissionId?: string | null } = {},
): Promise<LightMyRequestResponse> {
  let csrf = opts.csrf;
  if (csrf === undefined) csrf = csrfFrom((await get(app, opts.csrfPage ?? url, jar)).body);
  const submission: Array<[string, MultipartValue]> = [];
  if (url.startsWith('/staff/') && opts.submissionId !== null && !fields.some(([name]) => name === 'submissionId')) {
    submission.push(['submissionId', opts.submissionId ?? newSubmissionId()]);
  }
  const body = await multipart(csrf === null ? [...submission, ...fields] : [['_csrf', csrf], ...submission, ...fields]);
  const res = await app.inject({ method: 'POST', url, headers: { cookie: jar.header(), 'content-type': body.contentType }, payload: body.payload });
  jar.store(res.headers['set-cookie']);
  return res;
}

/** The form's one-time key on a page (replyKey or formKey). */
export function formKeyFrom(html: string, name: 'replyKey' | 'formKey'): string {
  const match = new RegExp(`name="${name}" value="([^"]+)"`).exec(html);
  if (!match) throw new Error(`no ${name} on the page`);
  return match[1]!;
}

// What an uploaded file IS, decided by its bytes. The name and the browser's Content-Type are chosen by
// whoever uploads, so an attacker can call an HTML page 'results.pdf'; serving it back could run script
// on our origin. Only the allow-listed types pass, and files that are two things at once (polyglots) are
// refused, because a browser or viewer may pick the other reading.
import { fileTypeFromBuffer } from 'file-type';
import { Transform, type TransformCallback } from 'node:stream';

export type AllowedType = 'application/pdf' | 'image/jpeg' | 'image/png';

/** Leading bytes the check needs: file-type reads up to ~4100 to tell formats apart. */
export const HEAD_BYTES = 4100;

export type ContentVerdict =
  | { ok: true; mediaType: AllowedType; extension: 'pdf' | 'jpg' | 'png' }
  | { ok: false; reason: 'not_allowed' | 'disguised' | 'active_content' | 'empty'; detected?: string };

const SIGNATURES: ReadonlyArray<{ mediaType: AllowedType; extension: 'pdf' | 'jpg' | 'png'; magic: Buffer }> = [
  { mediaType: 'application/pdf', extension: 'pdf', magic: Buffer.from('%PDF-', 'latin1') },
  { mediaType: 'image/jpeg', extension: 'jpg', magic: Buffer.from([0xff, 0xd8, 0xff]) },
  { mediaType: 'image/png', extension: 'png', magic: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
];

// Markup a browser's sniffer or an inline viewer might act on, wherever it sits in the head.
const MARKUP_MARKERS = ['<html', '<script', '<!doctype', '<svg', '<body', '<iframe', '<?xml', 'javascript:'];

/** head: the first HEAD_BYTES bytes (or the whole file if shorter). */
export async function checkFileHead(head: Buffer, allowed: readonly AllowedType[]): Promise<ContentVerdict> {
  if (head.length === 0) return { ok: false, reason: 'empty' };
  const detected = (await fileTypeFromBuffer(head))?.mime;
  const signature = SIGNATURES.find((s) => head.subarray(0, s.magic.length).equals(s.magic));

  if (!signature) {
    if (detected) return { ok: false, reason: 'not_allowed', detected };
    // Readers such as Acrobat accept a PDF header up to 1 KiB in: junk first is a classic polyglot trick.
    if (head.includes('%PDF-', 0, 'latin1')) return { ok: false, reason: 'disguised', detected: 'application/pdf' };
    return { ok: false, reason: 'not_allowed' };
  }
  // The signature and file-type must agree (e.g. an animated PNG is 'image/apng', not an allowed PNG).
  if (detected !== signature.mediaType) return { ok: false, reason: 'not_allowed', ...(detected ? { detected } : {}) };
  if (!allowed.includes(signature.mediaType)) return { ok: false, reason: 'not_allowed', detected };

  const text = head.toString('latin1').toLowerCase();
  const marker = MARKUP_MARKERS.find((m) => text.includes(m));
  if (marker) return { ok: false, reason: 'disguised', detected: `${signature.mediaType} containing ${marker}` };

  return { ok: true, mediaType: signature.mediaType, extension: signature.extension };
}

// PDF names whose presence means the document can run code, launch programs or carry other files.
const ACTIVE_NAMES = new Set(['JavaScript', 'JS', 'Launch', 'EmbeddedFile', 'EmbeddedFiles', 'AA', 'XFA', 'RichMedia']);
// A name: '/' then regular characters, ended by whitespace or a delimiter (PDF 32000-1 §7.3.5).
const NAME_TOKEN = /\/([^\s()<>[\]{}/%]*)/g;
// Longer than any name we look for, even fully #xx-escaped; a longer unterminated run need not be carried.
const MAX_CARRIED_NAME = 256;

/**
 * Whole-file scan for PDFs, streamed: passes bytes through and, at the end, reports active content.
 * Names are matched after decoding #xx escapes (/J#61vaScript), and a name split across chunks is carried
 * over. /OpenAction alone is normal (it sets the opening view), so it is reported only alongside /JS or
 * /JavaScript. Limitation: names inside compressed object streams are not seen; pair this with
 * serving PDFs as attachments or sandboxed.
 */
export function pdfActiveContentScanner(): { stream: Transform; result(): { activeContent: string[] } } {
  const found = new Set<string>();
  let sawOpenAction = false;
  let carry = '';

  const scan = (text: string, final: boolean): string => {
    for (const match of text.matchAll(NAME_TOKEN)) {
      const end = match.index + match[0].length;
      if (!final && end === text.length) {
        // The name may continue in the next chunk: judge it then.
        return match[0].length <= MAX_CARRIED_NAME ? match[0] : '';
      }
      const name = decodePdfName(match[1]!);
      if (ACTIVE_NAMES.has(name)) found.add(`/${name}`);
      else if (name === 'OpenAction') sawOpenAction = true;
    }
    return '';
  };

  const stream = new Transform({
    transform(piece: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      carry = scan(carry + piece.toString('latin1'), false);
      callback(null, piece);
    },
    flush(callback: TransformCallback) {
      scan(carry, true);
      carry = '';
      callback();
    },
  });

  return {
    stream,
    result() {
      const activeContent = [...found];
      if (sawOpenAction && (found.has('/JavaScript') || found.has('/JS'))) activeContent.push('/OpenAction');
      return { activeContent };
    },
  };
}

function decodePdfName(raw: string): string {
  return raw.replace(/#([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

const DEFAULT_NAMES = { pdf: 'document.pdf', jpg: 'photo.jpg', png: 'image.png' } as const;
const MAX_NAME_CHARS = 100;
// File systems limit names in bytes (255 on most); emoji are four bytes each in UTF-8.
const MAX_NAME_BYTES = 240;
// Bidi controls make 'gpj.exe' display as 'exe.jpg'; the BOM and controls have no place in a name.
const INVISIBLE = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/gu;
const RESERVED = /[\\/:*?"<>|]/g;
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;
// Something that looks like an extension (has a letter), so 'v1.2' keeps its '.2'.
const OLD_EXTENSION = /\.(?=[A-Za-z0-9]{0,9}[A-Za-z])[A-Za-z0-9]{1,10}$/;

/** A download/display name whose extension is the sniffed type's, safe on every OS and in every header. */
export function cleanFileName(original: string | undefined, extension: 'pdf' | 'jpg' | 'png'): string {
  let name = (original ?? '').normalize('NFC').replace(INVISIBLE, '');
  name = name.split(/[\\/]/).pop() ?? '';
  name = name.replace(RESERVED, '_').replace(/\s+/gu, ' ').trim();
  name = name.replace(OLD_EXTENSION, '');
  name = name.replace(/^\.+/, (dots) => '_'.repeat(dots.length)).replace(/[. ]+$/, '');
  if (!/[\p{L}\p{N}\p{So}]/u.test(name)) return DEFAULT_NAMES[extension];
  if (WINDOWS_DEVICE.test(name)) name = `_${name}`;

  const suffix = `.${extension}`;
  const graphemes = [...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(name)].map((s) => s.segment);
  const fits = (base: string) => [...base].length + suffix.length <= MAX_NAME_CHARS && Buffer.byteLength(base + suffix) <= MAX_NAME_BYTES;
  // Trimmed on grapheme boundaries so an emoji or accented letter is never cut in half.
  while (graphemes.length > 0 && !fits(graphemes.join(''))) graphemes.pop();
  const base = graphemes.join('').trimEnd();
  return base ? base + suffix : DEFAULT_NAMES[extension];
}

/** Content-Disposition value: `attachment|inline; filename="ascii-fallback"; filename*=UTF-8''percent-encoded` (RFC 6266/5987). */
export function contentDisposition(kind: 'inline' | 'attachment', fileName: string): string {
  // CR/LF would split the header; the other controls and bidi marks have no business in it either.
  const name = fileName.normalize('NFC').replace(INVISIBLE, '');
  const fallback =
    name
      .normalize('NFKD')
      .replace(/\p{M}/gu, '')
      // Quote and backslash are replaced rather than escaped: browsers disagree on quoted-pair handling.
      // '%' is replaced because some clients percent-decode the plain filename.
      .replace(/[^\x20-\x7e]|["\\%]/g, '_') || 'download';
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

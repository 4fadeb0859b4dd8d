import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import sharp from 'sharp';
import { checkFileHead, cleanFileName, contentDisposition, HEAD_BYTES, pdfActiveContentScanner, type AllowedType } from './content-check.ts';

const ALL: AllowedType[] = ['application/pdf', 'image/jpeg', 'image/png'];

function minimalPdf(body = ''): Buffer {
  return Buffer.from(
    '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n' +
      '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n' +
      '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n' +
      '3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >> endobj\n' +
      body +
      'trailer << /Root 1 0 R >>\n%%EOF\n',
    'latin1',
  );
}

const jpeg = () => sharp({ create: { width: 4, height: 4, channels: 3, background: '#c00' } }).jpeg().toBuffer();
const png = () => sharp({ create: { width: 4, height: 4, channels: 3, background: '#c00' } }).png().toBuffer();

/** A stored (uncompressed) ZIP, enough for file-type to read entry names and contents. */
function zip(entries: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of entries) {
    const data = Buffer.from(content);
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt32LE(crc32(data), 14);
    header.writeUInt32LE(data.length, 18);
    header.writeUInt32LE(data.length, 22);
    header.writeUInt16LE(Buffer.byteLength(name), 26);
    parts.push(header, Buffer.from(name), data);
  }
  return Buffer.concat(parts);
}

const head = (b: Buffer) => b.subarray(0, HEAD_BYTES);

test('a real minimal PDF, JPEG and PNG pass with their sniffed type', async () => {
  assert.deepEqual(await checkFileHead(head(minimalPdf()), ALL), { ok: true, mediaType: 'application/pdf', extension: 'pdf' });
  assert.deepEqual(await checkFileHead(head(await jpeg()), ALL), { ok: true, mediaType: 'image/jpeg', extension: 'jpg' });
  assert.deepEqual(await checkFileHead(head(await png()), ALL), { ok: true, mediaType: 'image/png', extension: 'png' });
});

test('an HTML page called results.pdf is refused (the name is never consulted)', async () => {
  const html = Buffer.from('<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>');
  assert.deepEqual(await checkFileHead(html, ALL), { ok: false, reason: 'not_allowed' });
});

test('a PDF where only images are allowed is not_allowed', async () => {
  const verdict = await checkFileHead(head(minimalPdf()), ['image/jpeg', 'image/png']);
  assert.deepEqual(verdict, { ok: false, reason: 'not_allowed', detected: 'application/pdf' });
});

test('a JPEG carrying <script> in its comment segment is a disguised polyglot', async () => {
  const image = await jpeg();
  const comment = Buffer.from('<script>alert(1)</script>');
  const com = Buffer.concat([Buffer.from([0xff, 0xfe, 0, comment.length + 2]), comment]);
  // Right after SOI (FF D8), where a COM segment is valid.
  const polyglot = Buffer.concat([image.subarray(0, 2), com, image.subarray(2)]);
  const verdict = await checkFileHead(head(polyglot), ALL);
  assert.equal(verdict.ok, false);
  assert.equal(!verdict.ok && verdict.reason, 'disguised');
});

test('a PDF with <html><script> after its header is disguised', async () => {
  const verdict = await checkFileHead(head(minimalPdf('% <HTML><Script>alert(1)</script>\n')), ALL);
  assert.equal(!verdict.ok && verdict.reason, 'disguised');
});

test('a PDF header after junk is disguised', async () => {
  const verdict = await checkFileHead(Buffer.concat([Buffer.from('junk junk junk\n'), minimalPdf()]), ALL);
  assert.deepEqual(verdict, { ok: false, reason: 'disguised', detected: 'application/pdf' });
});

test('each markup marker is caught case-insensitively inside an otherwise valid PNG', async () => {
  const image = await png();
  for (const marker of ['<HTML', '<sCrIpT', '<!DocType', '<SVG', '<Body', '<IFRAME', '<?XML', 'JavaScript:']) {
    const verdict = await checkFileHead(Buffer.concat([image, Buffer.from(marker)]), ALL);
    assert.equal(!verdict.ok && verdict.reason, 'disguised', marker);
  }
});

test('GIF, SVG, ZIP, EXE and DOCX are not_allowed', async () => {
  const docx = zip([
    [
      '[Content_Types].xml',
      '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    ],
    ['word/document.xml', '<w:document/>'],
  ]);
  const mz = Buffer.alloc(256);
  mz.write('MZ', 0, 'latin1');
  const cases: Array<[string, Buffer, string | undefined]> = [
    ['gif', Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(20)]), 'image/gif'],
    ['svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), undefined],
    ['zip', zip([['notes.txt', 'hello']]), 'application/zip'],
    ['exe', mz, 'application/x-msdownload'],
    ['docx', docx, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
  ];
  for (const [label, bytes, detected] of cases) {
    const verdict = await checkFileHead(head(bytes), ALL);
    assert.equal(verdict.ok, false, label);
    assert.equal(!verdict.ok && verdict.reason, 'not_allowed', label);
    if (detected) assert.equal(!verdict.ok && verdict.detected, detected, label);
  }
});

test('an empty file is empty', async () => {
  assert.deepEqual(await checkFileHead(Buffer.alloc(0), ALL), { ok: false, reason: 'empty' });
});

async function scanPdf(bytes: Buffer, pieceSize: number) {
  const scanner = pdfActiveContentScanner();
  const passed: Buffer[] = [];
  function* pieces() {
    for (let i = 0; i < bytes.length; i += pieceSize) yield bytes.subarray(i, i + pieceSize);
  }
  await pipeline(
    Readable.from(pieces()),
    scanner.stream,
    new Writable({
      write(piece: Buffer, _enc, cb) {
        passed.push(piece);
        cb();
      },
    }),
  );
  assert.ok(Buffer.concat(passed).equals(bytes), 'bytes pass through unchanged');
  return scanner.result().activeContent;
}

test('/JavaScript split across chunk boundaries is found, at every split', async () => {
  const pdf = minimalPdf('4 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj\n');
  const at = pdf.indexOf('/JavaScript');
  for (let cut = at; cut <= at + '/JavaScript'.length; cut++) {
    const scanner = pdfActiveContentScanner();
    scanner.stream.write(pdf.subarray(0, cut));
    scanner.stream.end(pdf.subarray(cut));
    scanner.stream.resume();
    await new Promise((resolve) => scanner.stream.on('end', resolve));
    assert.deepEqual(scanner.result().activeContent.sort(), ['/JS', '/JavaScript'], `cut at ${cut}`);
  }
  assert.deepEqual((await scanPdf(pdf, 1)).sort(), ['/JS', '/JavaScript']);
});

test('hex-escaped names and each active feature are found; OpenAction counts only with JS', async () => {
  const pdf = minimalPdf(
    '5 0 obj << /OpenAction 6 0 R /AA << >> /Names << /EmbeddedFiles 7 0 R >> >> endobj\n' +
      '6 0 obj << /S /J#61vaScript >> endobj\n8 0 obj << /S /Launch >> endobj\n9 0 obj << /XFA 1 0 R /RichMedia 2 0 R /Type /EmbeddedFile >> endobj\n',
  );
  const found = await scanPdf(pdf, 7);
  for (const name of ['/JavaScript', '/Launch', '/EmbeddedFile', '/EmbeddedFiles', '/AA', '/XFA', '/RichMedia', '/OpenAction']) {
    assert.ok(found.includes(name), name);
  }
  // An OpenAction that only sets the opening view is ordinary.
  assert.deepEqual(await scanPdf(minimalPdf('<< /OpenAction [3 0 R /Fit] >>\n'), 64), []);
});

test('a clean PDF has no active content, and a name at the very end is still judged', async () => {
  assert.deepEqual(await scanPdf(minimalPdf(), 3), []);
  assert.deepEqual(await scanPdf(Buffer.from('%PDF-1.4\n/JS'), 5), ['/JS']);
});

test('cleanFileName', () => {
  const cases: Array<[string | undefined, 'pdf' | 'jpg' | 'png', string]> = [
    ['../../etc/passwd', 'pdf', 'passwd.pdf'],
    ['C:\\Users\\me\\Letter.PDF', 'pdf', 'Letter.pdf'],
    ['\u202Eexe.pdf', 'pdf', 'exe.pdf'],
    ['photo\u202Egpj.exe', 'jpg', 'photogpj.jpg'],
    ['CON', 'pdf', '_CON.pdf'],
    ['lpt1.txt', 'png', '_lpt1.png'],
    ['photo.HEIC', 'jpg', 'photo.jpg'],
    ['invoice.exe', 'pdf', 'invoice.pdf'],
    ['results v1.2', 'pdf', 'results v1.2.pdf'],
    ['  blood\t\n  test   results  .pdf', 'pdf', 'blood test results.pdf'],
    ['a:b*c?"d"<e>|f', 'pdf', 'a_b_c__d__e__f.pdf'],
    ['.hidden file', 'png', '_hidden file.png'],
    ['Cafe\u0301', 'pdf', 'Caf\u00e9.pdf'],
    ['scan 😀👍🏽', 'jpg', 'scan 😀👍🏽.jpg'],
    [undefined, 'pdf', 'document.pdf'],
    ['', 'jpg', 'photo.jpg'],
    ['...', 'png', 'image.png'],
    ['\u0000\u0007', 'pdf', 'document.pdf'],
  ];
  for (const [original, extension, expected] of cases) assert.equal(cleanFileName(original, extension), expected, String(original));
});

test('cleanFileName keeps long names to 100 characters with the extension, never splitting an emoji', () => {
  const long = cleanFileName(`${'a'.repeat(300)}.pdf`, 'pdf');
  assert.equal(long, `${'a'.repeat(96)}.pdf`);
  const emoji = cleanFileName('👨‍👩‍👧'.repeat(60), 'jpg');
  assert.ok(emoji.endsWith('.jpg'));
  assert.ok([...emoji].length <= 100);
  assert.ok(Buffer.byteLength(emoji) <= 255);
  assert.equal(emoji.slice(0, -4).replaceAll('👨‍👩‍👧', ''), '', 'only whole family emoji remain');
});

test('contentDisposition gives an ASCII fallback and an RFC 5987 UTF-8 name', () => {
  assert.equal(contentDisposition('attachment', 'letter.pdf'), `attachment; filename="letter.pdf"; filename*=UTF-8''letter.pdf`);
  assert.equal(
    contentDisposition('inline', 'Résumé "final" (1).pdf'),
    `inline; filename="Resume _final_ (1).pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22%20%281%29.pdf`,
  );
  assert.equal(contentDisposition('attachment', '检查.pdf'), `attachment; filename="__.pdf"; filename*=UTF-8''%E6%A3%80%E6%9F%A5.pdf`);
  const injected = contentDisposition('attachment', 'a.pdf\r\nSet-Cookie: x=1\\');
  assert.ok(!/[\r\n]/.test(injected));
  assert.equal(injected, `attachment; filename="a.pdfSet-Cookie: x=1_"; filename*=UTF-8''a.pdfSet-Cookie%3A%20x%3D1%5C`);
  assert.match(contentDisposition('attachment', "it's 100%.pdf"), /filename="it's 100_\.pdf"; filename\*=UTF-8''it%27s%20100%25\.pdf$/);
});

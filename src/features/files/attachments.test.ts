// Attachments on a patient's reply, through the pages with app.inject: add (the form shows them back),
// remove, send with the reply; what is refused; staff see thumbnails and download; who may not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import sharp from 'sharp';
import fc from 'fast-check';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { runMaintenance } from '../maintenance/maintenance.service.ts';
import { createTestConversation, createTestStaff, csrfFrom } from '../../../test/helpers/factories.ts';
import { firstDevice, get, textOf } from '../../../test/helpers/patient.ts';
import { errorSummaryItems, signInAsStaff, staffGet } from '../../../test/helpers/staff.ts';
import { formKeyFrom, HTML_AS_PDF, multipart, postMultipart, sampleJpeg, samplePdf, samplePng, type MultipartValue } from '../../../test/helpers/files.ts';
import { auditEvents, files } from '../../platform/db/schema.ts';

async function replyPage(app: Parameters<typeof get>[0], token: string, jar: Parameters<typeof get>[2]) {
  const page = await get(app, `/${token}/conversation`, jar);
  return { page, replyKey: formKeyFrom(page.body, 'replyKey') };
}

test('a patient adds photos and a PDF, removes one, and sends them with the reply; staff see thumbnails and download the files', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const url = `/${c.token}/conversation/reply`;
  const { replyKey } = await replyPage(app, c.token, jar);
  const jpeg = await sampleJpeg(1200, 900);

  const added = await postMultipart(app, url, jar, [
    ['replyKey', replyKey],
    ['reply', 'Here is the rash'],
    ['files', { fileName: 'IMG_0001.HEIC', content: jpeg, type: 'image/heic' }],
    ['files', { fileName: 'scan.pdf', content: samplePdf(), type: 'application/pdf' }],
    ['files', { fileName: 'arm.png', content: await samplePng(), type: 'image/png' }],
    ['action', 'add'],
  ], { csrfPage: `/${c.token}/conversation` });
  assert.equal(added.statusCode, 200, textOf(added.body).slice(0, 400));
  const words = textOf(added.body);
  // Named by what the bytes are: the phone's HEIC name, sent as JPEG, is shown as .jpg.
  assert.match(words, /IMG_0001\.jpg \(JPEG image, \d+ KB\)/);
  assert.match(words, /scan\.pdf \(PDF/);
  assert.match(words, /arm\.png \(PNG image/);
  assert.match(added.body, /Here is the rash<\/textarea>/);
  assert.equal(formKeyFrom(added.body, 'replyKey'), replyKey, 'the form keeps its key, and so its files');

  const pngId = /name="remove" value="([0-9a-f-]+)"[^>]*>Remove<span class="nhsuk-u-visually-hidden"> arm\.png/.exec(added.body)![1]!;
  const removed = await postMultipart(app, url, jar, [['replyKey', replyKey], ['reply', 'Here is the rash'], ['remove', pngId]], { csrfPage: `/${c.token}/conversation` });
  assert.equal(removed.statusCode, 200);
  assert.match(textOf(removed.body), /The file has been removed/);
  assert.doesNotMatch(textOf(removed.body), /arm\.png/);

  const sent = await postMultipart(app, url, jar, [['replyKey', replyKey], ['reply', 'Here is the rash'], ['action', 'send']], { csrfPage: `/${c.token}/conversation` });
  assert.equal(sent.statusCode, 303);
  const after = await get(app, sent.headers.location!, jar);
  assert.match(textOf(after.body), /You sent 2 files: IMG_0001\.jpg/);

  const rows = await services.db.select().from(files).where(eq(files.conversationId, c.conversationId));
  assert.equal(rows.filter((r) => r.itemId && !r.deletedAt).length, 2);
  assert.equal(rows.filter((r) => r.deletedAt).length, 1, 'the removed one is deleted, its record kept');

  // Staff: the conversation shows a thumbnail (made on the server, small, no metadata) and downloads.
  const staff = await createTestStaff(services, c.organisation.id);
  const staffJar = await signInAsStaff(app, staff.email, staff.password);
  const conversation = await staffGet(app, staffJar, `/staff/conversations/${c.conversationId}`);
  const jpegRow = rows.find((r) => r.mediaType === 'image/jpeg')!;
  assert.match(conversation.body, new RegExp(`<img class="dc-file__thumbnail" src="/staff/files/${jpegRow.id}/thumbnail" alt="Photo 1 of 2: IMG_0001.jpg"`));
  const thumbnail = await staffGet(app, staffJar, `/staff/files/${jpegRow.id}/thumbnail`);
  assert.equal(thumbnail.statusCode, 200);
  assert.equal(thumbnail.headers['content-type'], 'image/jpeg');
  const meta = await sharp(thumbnail.rawPayload).metadata();
  assert.ok(Math.max(meta.width!, meta.height!) <= 480);
  assert.equal(meta.exif, undefined);
  const download = await staffGet(app, staffJar, `/staff/files/${jpegRow.id}`);
  assert.equal(download.statusCode, 200);
  assert.match(String(download.headers['content-disposition']), /^attachment; filename="IMG_0001\.jpg"/);
  assert.deepEqual(download.rawPayload, jpeg);
  const pdfRow = rows.find((r) => r.mediaType === 'application/pdf')!;
  assert.equal((await staffGet(app, staffJar, `/staff/files/${pdfRow.id}/thumbnail`)).statusCode, 404);

  const events = await services.db.select().from(auditEvents).where(eq(auditEvents.conversationId, c.conversationId));
  assert.equal(events.filter((e) => e.type === 'file.thumbnail_viewed').length, 1);
  assert.equal(events.filter((e) => e.type === 'file.downloaded').length, 1);
  assert.equal(events.filter((e) => e.type === 'file.uploaded').length, 3);
});

test('refused attachments are named in the error summary and nothing of them is kept; a sixth file is refused', async (t) => {
  const { app, services, close } = await createTestApp({ config: { ATTACHMENT_MAX_MB: '0.05', ATTACHMENTS_PER_REPLY: '2' } });
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const url = `/${c.token}/conversation/reply`;
  const { replyKey } = await replyPage(app, c.token, jar);
  const res = await postMultipart(app, url, jar, [
    ['replyKey', replyKey],
    ['reply', ''],
    ['files', { fileName: 'page.pdf', content: HTML_AS_PDF }],
    ['files', { fileName: 'huge.jpg', content: await sampleJpeg(400, 400, true) }],
    ['files', { fileName: 'ok1.png', content: await samplePng() }],
    ['files', { fileName: 'ok2.png', content: await samplePng() }],
    ['files', { fileName: 'third.png', content: await samplePng() }],
    ['action', 'add'],
  ], { csrfPage: `/${c.token}/conversation` });
  assert.equal(res.statusCode, 400);
  const summary = errorSummaryItems(res.body).join(' | ');
  assert.match(summary, /#files page\.pdf must be a JPG, PNG or PDF/);
  assert.match(summary, /huge\.jpg must be smaller than 51 KB/);
  assert.match(summary, /third\.png was not added: you can add up to 2 files/);
  assert.match(textOf(res.body), /ok1\.png/);
  const rows = await services.db.select().from(files).where(eq(files.conversationId, c.conversationId));
  assert.equal(rows.length, 2);
});

test('a reply can be a photo alone; without words or files it is refused', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'once' });
  const jar = await firstDevice(app, c.token);
  const url = `/${c.token}/conversation/reply`;
  const { replyKey } = await replyPage(app, c.token, jar);
  const empty = await postMultipart(app, url, jar, [['replyKey', replyKey], ['reply', ''], ['action', 'send']], { csrfPage: `/${c.token}/conversation` });
  assert.equal(empty.statusCode, 400);
  assert.match(errorSummaryItems(empty.body).join(), /Enter your reply/);
  const photo = await postMultipart(app, url, jar, [['replyKey', replyKey], ['reply', ''], ['files', { fileName: 'a.jpg', content: await sampleJpeg() }], ['action', 'send']], { csrfPage: `/${c.token}/conversation` });
  assert.equal(photo.statusCode, 303);
});

test('no CSRF token first: refused before any file is read, nothing stored', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const { replyKey } = await replyPage(app, c.token, jar);
  const res = await postMultipart(app, `/${c.token}/conversation/reply`, jar, [['replyKey', replyKey], ['files', { fileName: 'a.jpg', content: await sampleJpeg() }], ['action', 'add']], { csrf: null });
  assert.equal(res.statusCode, 403);
  assert.equal((await services.db.select().from(files)).length, 0);
});

test('fuzz: any bytes under any name are either refused with a message or stored as an allowed type under a clean name; never a 500', async (t) => {
  const { app, services, close } = await createTestApp({ config: { ATTACHMENTS_PER_REPLY: '10' } });
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const url = `/${c.token}/conversation/reply`;
  const magic = [Buffer.from('%PDF-1.7\n'), Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('<svg'), Buffer.from('GIF89a'), Buffer.alloc(0)];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...magic),
      fc.uint8Array({ maxLength: 3000 }),
      fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('../../etc/passwd', 'a\u202Egpj.exe', 'CON', '.htaccess', 'x'.repeat(300), 'photo.jpg\u0000.html')),
      async (prefix, rest, fileName) => {
        const { page, replyKey } = await replyPage(app, c.token, jar);
        const res = await postMultipart(app, url, jar, [['replyKey', replyKey], ['reply', 'fuzz'], ['files', { fileName: fileName || 'x', content: Buffer.concat([prefix, Buffer.from(rest)]) }], ['action', 'add']], { csrf: csrfFrom(page.body) });
        assert.ok([200, 400].includes(res.statusCode), `got ${res.statusCode} for ${JSON.stringify(fileName)}`);
        if (res.statusCode === 400) assert.ok(errorSummaryItems(res.body).length > 0, 'a refusal says why');
        const drafts = await services.db.select().from(files).where(eq(files.draftKey, replyKey));
        for (const row of drafts) {
          assert.ok(['image/jpeg', 'image/png', 'application/pdf'].includes(row.mediaType));
          // eslint-disable-next-line no-control-regex -- control characters in a stored name are the defect looked for
          assert.doesNotMatch(row.fileName, /[/\\\u0000-\u001f\u202a-\u202e]/);
          assert.ok(row.fileName.length <= 100);
        }
      },
    ),
    { numRuns: 25 },
  );
});

test('files added to a reply never sent are deleted by maintenance after a day; sent ones are kept', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const url = `/${c.token}/conversation/reply`;
  const first = await replyPage(app, c.token, jar);
  await postMultipart(app, url, jar, [['replyKey', first.replyKey], ['reply', 'sent'], ['files', { fileName: 'sent.jpg', content: await sampleJpeg() }], ['action', 'send']], { csrf: csrfFrom(first.page.body) });
  const second = await replyPage(app, c.token, jar);
  await postMultipart(app, url, jar, [['replyKey', second.replyKey], ['reply', 'left'], ['files', { fileName: 'left.jpg', content: await sampleJpeg() }], ['action', 'add']], { csrf: csrfFrom(second.page.body) });

  clock.advance(23 * 3_600_000);
  assert.equal((await runMaintenance(services)).abandonedFiles, 0);
  clock.advance(2 * 3_600_000);
  assert.equal((await runMaintenance(services)).abandonedFiles, 1);
  const rows = await services.db.select().from(files).where(eq(files.conversationId, c.conversationId));
  const left = rows.find((r) => r.fileName === 'left.jpg')!;
  const sent = rows.find((r) => r.fileName === 'sent.jpg')!;
  assert.ok(left.deletedAt);
  assert.equal(await services.files.store.exists(left.storageKey), false);
  assert.equal(sent.deletedAt, null);
  assert.equal(await services.files.store.exists(sent.storageKey), true);
});

test('a patient cannot remove another conversation’s draft by naming its id', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const a = await createTestConversation(services, { replyMode: 'conversation' });
  const b = await createTestConversation(services, { replyMode: 'conversation', patient: { nhsNumber: '9990000026', mobileNumber: '+447700900002' } });
  const jarA = await firstDevice(app, a.token);
  const jarB = await firstDevice(app, b.token);
  const pageA = await replyPage(app, a.token, jarA);
  await postMultipart(app, `/${a.token}/conversation/reply`, jarA, [['replyKey', pageA.replyKey], ['reply', ''], ['files', { fileName: 'mine.jpg', content: await sampleJpeg() }], ['action', 'add']], { csrf: csrfFrom(pageA.page.body) });
  const [draft] = await services.db.select().from(files).where(eq(files.conversationId, a.conversationId));
  const pageB = await replyPage(app, b.token, jarB);
  // B even knows A's form key: the draft is A's conversation's, so it is not B's to remove.
  const res = await postMultipart(app, `/${b.token}/conversation/reply`, jarB, [['replyKey', pageA.replyKey], ['reply', ''], ['remove', draft!.id]], { csrf: csrfFrom(pageB.page.body) });
  assert.equal(res.statusCode, 200);
  assert.doesNotMatch(textOf(res.body), /mine\.jpg|has been removed/);
  const [after] = await services.db.select().from(files).where(eq(files.id, draft!.id));
  assert.equal(after!.deletedAt, null);
});

test('bad multipart bodies are the sender’s problem: no boundary, a body cut short, a field too long → 400/413, never 500', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const url = `/${c.token}/conversation/reply`;
  const noBoundary = await app.inject({ method: 'POST', url, headers: { cookie: jar.header(), 'content-type': 'multipart/form-data' }, payload: 'x' });
  assert.equal(noBoundary.statusCode, 400);
  const { page, replyKey } = await replyPage(app, c.token, jar);
  const whole = await multipart([['_csrf', csrfFrom(page.body)], ['replyKey', replyKey], ['files', { fileName: 'a.jpg', content: await sampleJpeg(300, 300, true) }], ['action', 'add']]);
  const cut = await app.inject({ method: 'POST', url, headers: { cookie: jar.header(), 'content-type': whole.contentType }, payload: whole.payload.subarray(0, Math.floor(whole.payload.length * 0.6)) });
  assert.equal(cut.statusCode, 400, `cut short: ${cut.statusCode}`);
  const long = await multipart([['_csrf', csrfFrom(page.body)], ['replyKey', replyKey], ['reply', 'x'.repeat(150_000)], ['action', 'send']]);
  const tooLong = await app.inject({ method: 'POST', url, headers: { cookie: jar.header(), 'content-type': long.contentType }, payload: long.payload });
  assert.equal(tooLong.statusCode, 413);
  assert.equal((await services.db.select().from(files)).length, 0, 'nothing of a broken upload is kept');
});

test('a patient cannot pile up files: new form keys do not lift the cap, and after the one reply nothing more is taken', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const url = `/${c.token}/conversation/reply`;
  const jpeg = await sampleJpeg();
  let last = '';
  for (let round = 0; round < 5; round++) {
    const { page } = await replyPage(app, c.token, jar);
    const res = await postMultipart(app, url, jar, [['replyKey', `scripted-key-${round}-0123456789`], ...Array.from({ length: 5 }, (_, i) => ['files', { fileName: `p${round}-${i}.jpg`, content: jpeg }] as [string, MultipartValue]), ['action', 'add']], { csrf: csrfFrom(page.body) });
    last = errorSummaryItems(res.body).join(' | ');
  }
  assert.equal((await services.db.select().from(files)).filter((f) => !f.deletedAt).length, 20);
  assert.match(last, /p4-\d\.jpg was not added: you can add up to 5 files/);

  const once = await createTestConversation(services, { replyMode: 'once', patient: { nhsNumber: '9990000026', mobileNumber: '+447700900002' } });
  const onceJar = await firstDevice(app, once.token);
  const first = await replyPage(app, once.token, onceJar);
  assert.equal((await postMultipart(app, `/${once.token}/conversation/reply`, onceJar, [['replyKey', first.replyKey], ['reply', 'the one reply'], ['action', 'send']], { csrf: csrfFrom(first.page.body) })).statusCode, 303);
  // The page has no form any more; a script posts anyway, with a token from any page of this browser.
  const signIn = await get(app, '/staff/sign-in', onceJar);
  const after = await postMultipart(app, `/${once.token}/conversation/reply`, onceJar, [['replyKey', 'another-key-0123456789'], ['files', { fileName: 'late.jpg', content: jpeg }], ['action', 'add']], { csrf: csrfFrom(signIn.body) });
  assert.ok(after.statusCode < 500);
  assert.equal((await services.db.select().from(files).where(eq(files.conversationId, once.conversationId))).length, 0, 'no file is taken once no reply can be sent');
});

test('a damaged image gets no thumbnail (422), not a server error; its download still works', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const { page, replyKey } = await replyPage(app, c.token, jar);
  const damaged = Buffer.concat([(await sampleJpeg()).subarray(0, 20), Buffer.alloc(2000, 0x55)]);
  const sent = await postMultipart(app, `/${c.token}/conversation/reply`, jar, [['replyKey', replyKey], ['reply', 'photo'], ['files', { fileName: 'broken.jpg', content: damaged }], ['action', 'send']], { csrf: csrfFrom(page.body) });
  assert.equal(sent.statusCode, 303);
  const [row] = await services.db.select().from(files).where(eq(files.conversationId, c.conversationId));
  const staff = await createTestStaff(services, c.organisation.id);
  const staffJar = await signInAsStaff(app, staff.email, staff.password);
  assert.equal((await staffGet(app, staffJar, `/staff/files/${row!.id}/thumbnail`)).statusCode, 422);
  assert.equal((await staffGet(app, staffJar, `/staff/files/${row!.id}`)).statusCode, 200);
});

// File intake end to end through the pages against a REAL clamd (one for this file, with a tiny local
// signature database): a clean photo is taken and marked clean; the EICAR test file, bare or hidden in
// a real PDF, is refused and nothing of it is kept; a scanner that is down, hangs or cannot take a file
// that big refuses the file (fail closed) and tells operators; and what is kept is ciphertext that
// cannot be altered without the download failing.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { createTestApp } from '../../../test/helpers/app.ts';
import { clamdAvailable, EICAR, EICAR_EMBEDDED_SIGNATURE, startClamd, type RunningClamd } from '../../../test/helpers/clamd.ts';
import { createTestConversation, createTestOrganisation, createTestPatient, createTestStaff } from '../../../test/helpers/factories.ts';
import { formKeyFrom, postMultipart, sampleJpeg, samplePdf, type MultipartValue } from '../../../test/helpers/files.ts';
import { firstDevice, get, textOf } from '../../../test/helpers/patient.ts';
import { errorSummaryItems, signInAsStaff, staffGet } from '../../../test/helpers/staff.ts';
import { auditEvents, conversations, files, outboundSms } from '../../platform/db/schema.ts';
import { createClamdScanner } from '../../platform/files/clamd-scanner.ts';
import { encryptedSize } from '../../platform/files/envelope.ts';
import { pathInsideRoot } from '../../platform/files/local-file-store.ts';
import type { Scanner } from '../../platform/files/scanner.ts';
import type { Services } from '../../services.ts';

const NOT_INSTALLED = 'clamd is not installed: apt-get install -y clamav-daemon';
const installed = clamdAvailable();
// clamd refuses a stream past this; the attachment limit below is set higher on purpose, to prove a
// file the scanner cannot take whole is refused rather than passed unscanned.
const STREAM_MAX_LENGTH = '1M';
const ATTACHMENT_MAX_MB = '5';
let clamd: RunningClamd | undefined;

before(
  async () => {
    if (installed) clamd = await startClamd({ streamMaxLength: STREAM_MAX_LENGTH });
  },
  { timeout: 120_000 },
);
after(async () => {
  await clamd?.stop();
});

if (!installed && process.env.CI === 'true') {
  test('clamd is installed (required in CI)', () => {
    assert.fail(`${NOT_INSTALLED}: in CI file intake must be tested against a real clamd`);
  });
}

function requireClamd(t: TestContext): RunningClamd | undefined {
  if (!installed) {
    t.skip(NOT_INSTALLED);
    return undefined;
  }
  assert.ok(clamd, 'clamd should have been started in before()');
  return clamd;
}

function scannerFor(running: RunningClamd): Scanner {
  return createClamdScanner({ host: running.host, port: running.port, timeoutMs: 20_000 });
}

async function appWith(t: TestContext, scanner: Scanner, options: { logLines?: string[] } = {}) {
  const testApp = await createTestApp({ config: { ATTACHMENT_MAX_MB }, files: (defaults) => ({ ...defaults, scanner }), ...options });
  t.after(testApp.close);
  return testApp;
}

/** A real PDF that passes the content check, with the EICAR string after %%EOF: only a scan finds it. */
function pdfCarryingEicar(): Buffer {
  return Buffer.concat([samplePdf('Discharge summary'), EICAR, Buffer.from('\n')]);
}

/** Every file under the local store's directory (the store makes sub-directories per month). */
async function filesInStore(services: Services): Promise<string[]> {
  const storage = services.config.files.storage;
  assert.equal(storage.kind, 'local');
  const entries = await readdir(storage.rootDir, { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

function storedObject(services: Services, storageKey: string): string {
  const storage = services.config.files.storage;
  assert.equal(storage.kind, 'local');
  return pathInsideRoot(storage.rootDir, storageKey);
}

async function addToReply(app: Parameters<typeof get>[0], services: Services, chosen: Array<{ fileName: string; content: Buffer }>, action: 'add' | 'send' = 'add') {
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const page = await get(app, `/${c.token}/conversation`, jar);
  const replyKey = formKeyFrom(page.body, 'replyKey');
  const res = await postMultipart(
    app,
    `/${c.token}/conversation/reply`,
    jar,
    [['replyKey', replyKey], ['reply', 'Here it is'], ...chosen.map((file) => ['files', file] as [string, MultipartValue]), ['action', action]],
    { csrfPage: `/${c.token}/conversation` },
  );
  return { c, res };
}

async function refusedEvents(services: Services, conversationId: string) {
  const events = await services.db.select().from(auditEvents).where(and(eq(auditEvents.conversationId, conversationId), eq(auditEvents.type, 'file.refused')));
  return events.map((e) => e.details as Record<string, unknown>);
}

async function assertNothingKept(services: Services, label: string) {
  assert.equal((await services.db.select().from(files)).length, 0, `${label}: no files row`);
  assert.deepEqual(await filesInStore(services), [], `${label}: nothing left in the store`);
}

test('a clean photo added to a reply is scanned by clamd and kept, marked clean with the engine', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  const { app, services } = await appWith(t, scannerFor(running));
  const jpeg = await sampleJpeg(320, 240);
  const { c, res } = await addToReply(app, services, [{ fileName: 'rash.jpg', content: jpeg }]);
  assert.equal(res.statusCode, 200, textOf(res.body).slice(0, 400));
  assert.match(textOf(res.body), /rash\.jpg \(JPEG image/);
  const [row] = await services.db.select().from(files).where(eq(files.conversationId, c.conversationId));
  assert.equal(row!.scanStatus, 'clean');
  assert.match(row!.scanEngine!, /^clamd ClamAV \d/, 'the engine and its version are recorded with the verdict');
  assert.equal((await filesInStore(services)).length, 1);
});

test('EICAR named photo.jpg is refused by the content check; EICAR inside a real PDF is found by clamd: "contains a virus", nothing kept, audited', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  const { app, services } = await appWith(t, scannerFor(running));

  const bare = await addToReply(app, services, [{ fileName: 'photo.jpg', content: EICAR }]);
  assert.equal(bare.res.statusCode, 400);
  assert.match(errorSummaryItems(bare.res.body).join(' | '), /photo\.jpg must be a JPG, PNG or PDF/);
  assert.deepEqual((await refusedEvents(services, bare.c.conversationId)).map((d) => d.reason), ['not_allowed']);

  const hidden = await addToReply(app, services, [{ fileName: 'summary.pdf', content: pdfCarryingEicar() }]);
  assert.equal(hidden.res.statusCode, 400, textOf(hidden.res.body).slice(0, 400));
  assert.match(errorSummaryItems(hidden.res.body).join(' | '), /summary\.pdf contains a virus/);
  assert.doesNotMatch(textOf(hidden.res.body), /summary\.pdf \(PDF/, 'the refused file is not listed as added');
  const [refused] = await refusedEvents(services, hidden.c.conversationId);
  assert.equal(refused!.reason, 'infected');
  assert.equal(refused!.signature, EICAR_EMBEDDED_SIGNATURE);
  assert.match(String(refused!.engine), /^clamd/);
  await assertNothingKept(services, 'EICAR');
});

test('a staff member sending a PDF that carries EICAR is told it contains a virus; nothing is sent or queued', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  const { app, services } = await appWith(t, scannerFor(running));
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const patient = await createTestPatient(services, organisation.id);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const url = `/staff/patients/${patient.id}/document`;
  const formKey = formKeyFrom((await staffGet(app, jar, url)).body, 'formKey');
  const res = await postMultipart(
    app,
    url,
    jar,
    [['formKey', formKey], ['title', 'Discharge summary'], ['note', ''], ['file', { fileName: 'summary.pdf', content: pdfCarryingEicar(), type: 'application/pdf' }], ['action', 'send']],
    { csrfPage: url },
  );
  assert.equal(res.statusCode, 400, textOf(res.body).slice(0, 400));
  assert.match(errorSummaryItems(res.body).join(' | '), /The selected file contains a virus/);
  assert.equal((await services.db.select().from(conversations).where(eq(conversations.patientId, patient.id))).length, 0, 'no conversation');
  assert.equal((await services.db.select().from(outboundSms)).length, 0, 'no text queued');
  await assertNothingKept(services, 'staff EICAR');
  const refused = await services.db.select().from(auditEvents).where(and(eq(auditEvents.type, 'file.refused'), eq(auditEvents.patientId, patient.id)));
  assert.deepEqual(refused.map((e) => (e.details as Record<string, unknown>).reason), ['infected']);
});

/** A port on which nothing listens (taken and given back at once). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A clamd that accepts connections and never answers. */
async function silentClamd(t: TestContext): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.resume(); // take whatever is sent, say nothing
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

function errorLines(logLines: string[]): Array<Record<string, unknown>> {
  return logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => Number(entry.level) >= 50);
}

async function assertScanFailedRefusal(t: TestContext, scanner: Scanner, expectedReason: string) {
  const logLines: string[] = [];
  const { app, services } = await appWith(t, scanner, { logLines });
  const { c, res } = await addToReply(app, services, [{ fileName: 'rash.jpg', content: await sampleJpeg() }]);
  assert.equal(res.statusCode, 503, textOf(res.body).slice(0, 400));
  assert.match(errorSummaryItems(res.body).join(' | '), /rash\.jpg could not be checked for viruses\. Try again later/);
  await assertNothingKept(services, expectedReason);
  const [refused] = await refusedEvents(services, c.conversationId);
  assert.equal(refused!.reason, 'scan_failed', 'the refusal is audited as scan_failed (the scanner\'s own reason beside it)');
  assert.equal(refused!.scanFailure, expectedReason);
  const errors = errorLines(logLines);
  assert.ok(
    errors.some((entry) => /could not be scanned/.test(String(entry.msg)) && entry.reason === expectedReason),
    `an error line for operators (reason ${expectedReason}); got ${JSON.stringify(errors)}`,
  );
}

test('clamd not running: the patient is told the file could not be checked (503), nothing kept, operators see an error', async (t) => {
  const scanner = createClamdScanner({ host: '127.0.0.1', port: await deadPort(), timeoutMs: 5_000 });
  await assertScanFailedRefusal(t, scanner, 'unavailable');
});

test('clamd that never answers: the scan times out and the file is refused the same way', async (t) => {
  const scanner = createClamdScanner({ host: '127.0.0.1', port: await silentClamd(t), timeoutMs: 300 });
  await assertScanFailedRefusal(t, scanner, 'timeout');
});

test('a file larger than clamd accepts (StreamMaxLength) but within the attachment limit is refused, not passed unscanned', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  const logLines: string[] = [];
  const { app, services } = await appWith(t, scannerFor(running), { logLines });
  const big = samplePdf('Scanned letter', 2 * 1024 * 1024);
  const { c, res } = await addToReply(app, services, [{ fileName: 'letter.pdf', content: big }]);
  assert.equal(res.statusCode, 503, textOf(res.body).slice(0, 400));
  assert.match(errorSummaryItems(res.body).join(' | '), /letter\.pdf could not be checked for viruses/);
  await assertNothingKept(services, 'over StreamMaxLength');
  const [refused] = await refusedEvents(services, c.conversationId);
  assert.equal(refused!.reason, 'scan_failed');
  assert.equal(refused!.scanFailure, 'too_large');
  assert.ok(errorLines(logLines).some((entry) => entry.reason === 'too_large'), 'operators are told the scanner limit is below the upload limit');
});

/** Every 16-byte window of `plain` that also occurs anywhere in `stored`. */
function sharedWindows(plain: Buffer, stored: Buffer, width = 16): number {
  const windows = new Set<string>();
  for (let i = 0; i + width <= stored.length; i++) windows.add(stored.toString('latin1', i, i + width));
  let shared = 0;
  for (let i = 0; i + width <= plain.length; i++) if (windows.has(plain.toString('latin1', i, i + width))) shared += 1;
  return shared;
}

test('at rest a sent photo is only ciphertext of the exact envelope size; a flipped byte makes the staff download fail', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  const { app, services } = await appWith(t, scannerFor(running));
  // Noisy so it spans several 64 KB encryption chunks and does not compress to nothing.
  const jpeg = await sampleJpeg(400, 300, true);
  const { c, res } = await addToReply(app, services, [{ fileName: 'rash.jpg', content: jpeg }], 'send');
  assert.equal(res.statusCode, 303, textOf(res.body).slice(0, 400));
  const [row] = await services.db.select().from(files).where(eq(files.conversationId, c.conversationId));
  assert.equal(row!.scanStatus, 'clean');

  const objectPath = storedObject(services, row!.storageKey);
  const stored = await readFile(objectPath);
  assert.equal(stored.length, encryptedSize(jpeg.length));
  assert.equal(sharedWindows(jpeg, stored), 0, 'no 16 bytes of the photo appear in the stored object');

  const staff = await createTestStaff(services, c.organisation.id);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const download = `/staff/files/${row!.id}`;
  const intact = await staffGet(app, jar, download);
  assert.equal(intact.statusCode, 200);
  assert.deepEqual(intact.rawPayload, jpeg);

  // One flip in the first chunk, one in the last: either way no byte that failed to authenticate is
  // released, and the download never completes as if the file were intact.
  const firstChunkByte = 16 + 100;
  const lastChunkByte = stored.length - 20;
  for (const [label, position] of [['first chunk', firstChunkByte], ['last chunk', lastChunkByte]] as const) {
    const tampered = Buffer.from(stored);
    tampered[position] = tampered[position]! ^ 0x01;
    await writeFile(objectPath, tampered);
    const outcome = await staffGet(app, jar, download).then(
      (response) => ({ response }),
      (error: unknown) => ({ error }),
    );
    if ('error' in outcome) continue; // the connection broke off: nothing more was served
    const { response } = outcome;
    assert.ok(!(response.statusCode === 200 && response.rawPayload.equals(jpeg)), `${label}: a tampered file is not served as intact`);
    if (response.statusCode === 200) {
      assert.ok(jpeg.subarray(0, response.rawPayload.length).equals(response.rawPayload), `${label}: only authenticated bytes (a prefix of the original) were sent`);
    } else {
      assert.equal(sharedWindows(jpeg, response.rawPayload), 0, `${label}: the error response carries none of the file`);
    }
    if (label === 'first chunk') assert.notEqual(response.statusCode, 200, 'a file damaged at its start is an error before any byte is sent');
  }
});

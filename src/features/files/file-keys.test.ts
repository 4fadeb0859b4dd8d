// Rotating FILE_ENCRYPTION_KEYS: files sealed under an old key are re-wrapped under the newest one and
// still open once the old key is gone; a file that was never re-wrapped fails loudly (a logged server
// error), never as bytes. Then the operators' command, run as operators run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eq } from 'drizzle-orm';
import { createTestApp, TEST_SECRETS } from '../../../test/helpers/app.ts';
import { createTestDatabase, databaseKind } from '../../../test/helpers/database.ts';
import { createTestOrganisation, createTestPatient, createTestStaff } from '../../../test/helpers/factories.ts';
import { formKeyFrom, postMultipart, samplePdf } from '../../../test/helpers/files.ts';
import { signInAsStaff, staffGet } from '../../../test/helpers/staff.ts';
import { openDatabase, type Database } from '../../platform/db/client.ts';
import { auditEvents, files } from '../../platform/db/schema.ts';
import { newFileEncryption, parseFileKeys, type FileKey } from '../../platform/files/envelope.ts';
import { createOrganisation } from '../organisations/organisations.service.ts';
import { rewrapFileKeys } from './file-keys.service.ts';
import { insertFile } from './files.repository.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const secret = () => randomBytes(32).toString('base64url');
const OLD = `old:${secret()}`;
const NEW = `new:${secret()}`;
const keysOf = (setting: string): FileKey[] => parseFileKeys(setting);

test('re-wrapped under the newest key, a file still opens without the old key; one never re-wrapped fails as a logged server error', async (t) => {
  // The app's keys are switched between steps, as a deployment's configuration changes between restarts.
  let current = keysOf(OLD);
  const logLines: string[] = [];
  const { app, services, close } = await createTestApp({
    config: { FILE_ENCRYPTION_KEYS: OLD },
    logLines,
    files: (defaults) => ({
      store: defaults.store,
      scanner: defaults.scanner,
      get keys() {
        return current;
      },
    }),
  });
  t.after(close);
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const patient = await createTestPatient(services, organisation.id);
  const jar = await signInAsStaff(app, staff.email, staff.password);

  async function sendPdf(words: string): Promise<{ fileId: string; pdf: Buffer }> {
    const url = `/staff/patients/${patient.id}/document`;
    const formKey = formKeyFrom((await staffGet(app, jar, url)).body, 'formKey');
    const pdf = samplePdf(words, 200_000);
    const sent = await postMultipart(app, url, jar, [
      ['formKey', formKey],
      ['title', words],
      ['note', ''],
      ['file', { fileName: 'results.pdf', content: pdf, type: 'application/pdf' }],
      ['action', 'send'],
    ]);
    assert.equal(sent.statusCode, 303);
    const conversationId = /\/staff\/conversations\/([0-9a-f-]+)/.exec(sent.headers.location!)![1]!;
    const [row] = await services.db.select().from(files).where(eq(files.conversationId, conversationId));
    return { fileId: row!.id, pdf };
  }
  const keyOf = async (fileId: string) => (await services.db.select({ keyId: files.encryptionKeyId }).from(files).where(eq(files.id, fileId)))[0]!.keyId;

  const first = await sendPdf('Blood test results');
  const second = await sendPdf('Letter from the hospital');
  assert.equal(await keyOf(first.fileId), 'old');

  // The new key first, the old one kept after it: re-wrap, one file a batch.
  current = keysOf(`${NEW},${OLD}`);
  const rewrapped = await rewrapFileKeys(services.db, current, 'ops-person', { batchSize: 1 });
  assert.deepEqual(rewrapped, { keyId: 'new', rewrapped: 2, unopenable: [] });
  assert.equal(await keyOf(first.fileId), 'new');
  assert.equal(await keyOf(second.fileId), 'new');
  const download = await staffGet(app, jar, `/staff/files/${first.fileId}`);
  assert.equal(download.statusCode, 200);
  assert.deepEqual(download.rawPayload, first.pdf);

  // Each batch is recorded as the operator's action.
  const events = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'operator.file_keys_rewrapped'));
  assert.deepEqual(
    events.map((e) => ({ actorType: e.actorType, actorId: e.actorId, details: e.details })),
    [1, 2].map(() => ({ actorType: 'operator', actorId: 'ops-person', details: { toKeyId: 'new', fromKeyIds: ['old'], files: 1 } })),
  );

  // Again: nothing to do, nothing recorded.
  assert.deepEqual(await rewrapFileKeys(services.db, current, 'ops-person'), { keyId: 'new', rewrapped: 0, unopenable: [] });
  assert.equal((await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'operator.file_keys_rewrapped'))).length, 2);

  // A server still on the old configuration takes one more file, sealed under 'old'.
  current = keysOf(OLD);
  const late = await sendPdf('Discharge summary');
  assert.equal(await keyOf(late.fileId), 'old');

  // The old key removed: the re-wrapped files open, the late one does not.
  current = keysOf(NEW);
  for (const file of [first, second]) {
    const res = await staffGet(app, jar, `/staff/files/${file.fileId}`);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.rawPayload, file.pdf);
  }
  const linesBefore = logLines.length;
  const refused = await staffGet(app, jar, `/staff/files/${late.fileId}`);
  assert.equal(refused.statusCode, 500);
  assert.doesNotMatch(String(refused.headers['content-type']), /application\/pdf/);
  assert.equal(refused.rawPayload.includes(Buffer.from('Discharge summary')), false, 'no byte of the file is served');
  const logged = logLines.slice(linesBefore).map((line) => JSON.parse(line) as { level: number; err?: { type?: string; message?: string } });
  const error = logged.find((l) => l.err?.type === 'FileKeyUnknownError');
  assert.ok(error, `the server error is logged with its cause: ${logLines.slice(linesBefore).join('\n')}`);
  assert.ok(error.level >= 50, 'logged as an error');
  assert.match(error.err!.message!, /key "old", which is not configured/);

  // The command's own run now reports that file rather than skipping it silently.
  assert.deepEqual(await rewrapFileKeys(services.db, current, 'ops-person'), {
    keyId: 'new',
    rewrapped: 0,
    unopenable: [{ fileId: late.fileId, keyId: 'old', reason: 'key_unknown' }],
  });
});

// ---- The operators' command ---------------------------------------------------------------------

function runAdmin(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['src/cli/admin.ts', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A fresh database for the command line, and a way to open it in this process between runs. */
async function freshDatabase(t: { after: (fn: () => Promise<void>) => void }) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'dovecote-file-keys-'));
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: dataDir, ...TEST_SECRETS };
  if (databaseKind === 'postgres') {
    const testDatabase = await createTestDatabase();
    t.after(async () => {
      await testDatabase.database.close();
      await testDatabase.drop();
    });
    return { env: { ...base, DATABASE_URL: testDatabase.url }, use: async <T>(fn: (database: Database) => Promise<T>) => fn(testDatabase.database) };
  }
  // The embedded database allows one process at a time: open it, use it, close it before the command runs.
  return {
    env: base,
    use: async <T>(fn: (database: Database) => Promise<T>) => {
      const database = await openDatabase({ dataDir });
      try {
        await database.migrate();
        return await fn(database);
      } finally {
        await database.close();
      }
    },
  };
}

/** A file's row sealed under `keys[0]` (the command re-wraps keys only, so no bytes are needed). */
async function storedFileRow(database: Database, organisationId: string, keys: readonly FileKey[]): Promise<string> {
  const id = randomUUID();
  const { sealed } = newFileEncryption(keys);
  await insertFile(database.db, {
    id,
    organisationId,
    purpose: 'document',
    conversationId: null,
    draftKey: null,
    uploadedByStaffId: null,
    fileName: 'results.pdf',
    mediaType: 'application/pdf',
    sizeBytes: 1000,
    sha256: '0'.repeat(64),
    storageKey: `files/2026/01/${id}`,
    encryptionKeyId: sealed.keyId,
    wrappedKey: sealed.wrappedKey,
    scanStatus: 'clean',
    scanEngine: 'clamd',
    availableUntil: null,
  });
  return id;
}

test('admin rewrap-file-keys: re-wraps, says how many, is audited with the operator, and names files it cannot open (exit 1)', async (t) => {
  const db = await freshDatabase(t);
  const { organisationId, fileId } = await db.use(async (database) => {
    const organisation = await createOrganisation(database.db, { name: 'Key Surgery', odsCode: 'K1234', contactPhone: '01632 960001' });
    return { organisationId: organisation.id, fileId: await storedFileRow(database, organisation.id, keysOf(OLD)) };
  });

  const usage = await runAdmin(['rewrap-file-keys', 'extra'], { ...db.env, FILE_ENCRYPTION_KEYS: `${NEW},${OLD}` });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /rewrap-file-keys takes no further arguments/);

  const run = await runAdmin(['rewrap-file-keys'], { ...db.env, FILE_ENCRYPTION_KEYS: `${NEW},${OLD}` });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'Re-wrapped the data keys of 1 file under key "new".\n');
  const again = await runAdmin(['rewrap-file-keys'], { ...db.env, FILE_ENCRYPTION_KEYS: `${NEW},${OLD}` });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /No file needed re-wrapping: every file that could be opened already uses key "new"\. Nothing changed\./);

  const orphan = await db.use(async (database) => {
    const [row] = await database.db.select().from(files).where(eq(files.id, fileId));
    assert.equal(row!.encryptionKeyId, 'new');
    const [event] = await database.db.select().from(auditEvents).where(eq(auditEvents.type, 'operator.file_keys_rewrapped'));
    assert.equal(event!.actorType, 'operator');
    assert.equal(event!.actorId, userInfo().username);
    assert.deepEqual(event!.details, { toKeyId: 'new', fromKeyIds: ['old'], files: 1 });
    return storedFileRow(database, organisationId, keysOf(OLD));
  });

  // The old key removed before this file was re-wrapped: named, and the command fails.
  const missing = await runAdmin(['rewrap-file-keys'], { ...db.env, FILE_ENCRYPTION_KEYS: NEW });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, new RegExp(`1 file could not be re-wrapped and cannot be opened:\\n  ${orphan}  key "old" \\(not configured\\)`));
  assert.match(missing.stderr, /Put the key they name back in FILE_ENCRYPTION_KEYS/);
});

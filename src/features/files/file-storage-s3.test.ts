// The app with FILE_STORAGE=s3, through the pages, against s3rver (an S3-compatible server run in this
// process): staff send a document, the patient opens it; the bucket holds only ciphertext; and once the
// document's days are up, maintenance deletes the object and keeps the record.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestOrganisation, createTestPatient, createTestStaff, latestLinkToken } from '../../../test/helpers/factories.ts';
import { formKeyFrom, postMultipart, samplePdf } from '../../../test/helpers/files.ts';
import { firstDevice, get, textOf } from '../../../test/helpers/patient.ts';
import { signInAsStaff, staffGet } from '../../../test/helpers/staff.ts';
import { files } from '../../platform/db/schema.ts';
import { encryptedSize } from '../../platform/files/envelope.ts';
import type { Services } from '../../services.ts';
import { runMaintenance } from '../maintenance/maintenance.service.ts';

// s3rver ships no types; this is the part of its API (README, 3.7.1) used here.
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: { port: number; address: string; silent: boolean; directory: string; configureBuckets: { name: string }[] }) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

const BUCKET = 'dovecote-files';
const REGION = 'eu-west-2';
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

async function startS3rver(t: TestContext): Promise<string> {
  const directory = await mkdtemp(path.join(tmpdir(), 'dovecote-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: BUCKET }] });
  const { port } = await server.run();
  t.after(async () => {
    // The SDK keeps sockets alive; close would otherwise wait for them to time out.
    server.httpServer?.closeAllConnections();
    await server.close();
    await rm(directory, { recursive: true, force: true });
  });
  return `http://127.0.0.1:${port}`;
}

/** A client of its own, to look at the bucket directly (not through the app's store). */
function bucketClient(t: TestContext, endpoint: string): S3Client {
  const client = new S3Client({ endpoint, region: REGION, forcePathStyle: true, credentials: CREDENTIALS });
  t.after(() => client.destroy());
  return client;
}

function objectKey(services: Services, storageKey: string): string {
  const storage = services.config.files.storage;
  assert.equal(storage.kind, 's3', 'the app stores files in S3');
  return storage.prefix ? `${storage.prefix.replace(/\/+$/, '')}/${storageKey}` : storageKey;
}

async function rawObject(client: S3Client, key: string): Promise<Buffer> {
  const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

test('FILE_STORAGE=s3: staff send a document, the patient opens it; the bucket holds ciphertext; maintenance deletes it when its days are up', async (t) => {
  const endpoint = await startS3rver(t);
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({
    now: clock.now,
    config: {
      FILE_STORAGE: 's3',
      S3_BUCKET: BUCKET,
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      S3_REGION: REGION,
      DOCUMENT_AVAILABLE_DAYS: '28',
    },
  });
  t.after(close);
  assert.equal(services.files.store.name, 's3');

  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const patient = await createTestPatient(services, organisation.id);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const url = `/staff/patients/${patient.id}/document`;
  const formKey = formKeyFrom((await staffGet(app, jar, url)).body, 'formKey');
  // Padded past one 64 KB encryption chunk, so the object is written and read in several pieces.
  const pdf = samplePdf('Blood test results: all normal', 150_000);
  const sent = await postMultipart(
    app,
    url,
    jar,
    [['formKey', formKey], ['title', 'Blood test results'], ['note', ''], ['file', { fileName: 'results.pdf', content: pdf, type: 'application/pdf' }], ['action', 'send']],
    { csrfPage: url },
  );
  assert.equal(sent.statusCode, 303, textOf(sent.body).slice(0, 400));
  const conversationId = /\/staff\/conversations\/([0-9a-f-]+)/.exec(sent.headers.location!)![1]!;

  const token = await latestLinkToken(services, conversationId);
  const patientJar = await firstDevice(app, token);
  const opened = await get(app, `/${token}/conversation/file`, patientJar);
  assert.equal(opened.statusCode, 200);
  assert.equal(opened.headers['content-type'], 'application/pdf');
  assert.deepEqual(opened.rawPayload, pdf);

  const [row] = await services.db.select().from(files).where(eq(files.conversationId, conversationId));
  const key = objectKey(services, row!.storageKey);
  const client = bucketClient(t, endpoint);
  const stored = await rawObject(client, key);
  assert.equal(stored.length, encryptedSize(pdf.length));
  assert.equal(stored.indexOf(Buffer.from('%PDF-')), -1, 'the bucket does not hold the PDF');
  assert.equal(stored.indexOf(Buffer.from('Blood test results')), -1);
  assert.equal(stored.indexOf(pdf.subarray(pdf.length - 4096, pdf.length - 4080)), -1, 'nor any part of its padding');

  clock.advance(27 * 86_400_000);
  assert.equal((await runMaintenance(services)).expiredDocuments, 0, 'still within its days');
  assert.equal((await rawObject(client, key)).length, stored.length);

  clock.advance(2 * 86_400_000);
  assert.equal((await runMaintenance(services)).expiredDocuments, 1);
  await assert.rejects(rawObject(client, key), (error: unknown) => {
    assert.ok(error instanceof NoSuchKey, `expected NoSuchKey, got ${String(error)}`);
    return true;
  });
  const [after] = await services.db.select().from(files).where(eq(files.id, row!.id));
  assert.ok(after, 'the record is kept');
  assert.ok(after.deletedAt, 'marked deleted');
  const gone = await get(app, `/${token}/conversation/file`, patientJar);
  assert.notEqual(gone.statusCode, 200, 'the document is no longer served');
});

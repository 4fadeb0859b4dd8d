import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { fileStoreContract } from './file-store-contract.ts';
import { assertStorageKey, InvalidStorageKey } from './file-store.ts';
import type { FileStore } from './file-store.ts';
import { createLocalFileStore, pathInsideRoot } from './local-file-store.ts';
import { createS3FileStore } from './s3-file-store.ts';

// s3rver ships no types; this is the part of its API (README, 3.7.1) these tests use.
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

const BUCKET = 'dovecote-test';
const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

async function tempDirectory(purpose: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `dovecote-${purpose}-`));
}

async function startS3rver(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const directory = await tempDirectory('s3rver');
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: BUCKET }],
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      // The SDK keeps sockets alive; close would otherwise wait for them to time out.
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function s3StoreAt(endpoint: string, bucket: string): FileStore {
  return createS3FileStore({
    endpoint,
    region: 'eu-west-2',
    bucket,
    forcePathStyle: true,
    prefix: 'test',
    credentials: S3RVER_CREDENTIALS,
  });
}

fileStoreContract('local', async () => {
  const rootDir = await tempDirectory('files');
  return {
    store: createLocalFileStore(rootDir),
    cleanup: () => rm(rootDir, { recursive: true, force: true }),
  };
});

fileStoreContract('s3', async () => {
  const s3rver = await startS3rver();
  return { store: s3StoreAt(s3rver.endpoint, BUCKET), cleanup: s3rver.stop };
});

test('storage keys: 200 characters accepted, 201 refused', () => {
  assertStorageKey('a'.repeat(200));
  assert.throws(() => assertStorageKey('a'.repeat(201)), InvalidStorageKey);
  assertStorageKey('files/2026/12/0b7c1a52-3f1e-4c2e-9d57-2a8f3f4b9e10');
});

test('local: a path that would leave the root is refused even without the key check', () => {
  const root = path.join(tmpdir(), 'dovecote-root');
  assert.equal(pathInsideRoot(root, 'files/2026/12/abc'), path.join(root, 'files', '2026', '12', 'abc'));
  for (const escaping of ['../x', '/etc/passwd', 'a/../../x', '..', '.', '']) {
    assert.throws(() => pathInsideRoot(root, escaping), InvalidStorageKey, escaping);
  }
  // A sibling directory sharing the root's name as a prefix is outside too.
  assert.throws(() => pathInsideRoot(root, '../dovecote-root-other/x'), InvalidStorageKey);
});

test('local: a put lands under the root as a 0600 file and leaves no temp files', async () => {
  const rootDir = await tempDirectory('files');
  try {
    const store = createLocalFileStore(rootDir);
    await store.put('files/2026/12/abc', Readable.from([Buffer.from('hello')]));
    await assert.rejects(
      store.put(
        'files/2026/12/broken',
        Readable.from(
          (async function* () {
            yield Buffer.from('half');
            throw new Error('The sender went away.');
          })(),
        ),
      ),
      /went away/,
    );
    const directory = path.join(rootDir, 'files', '2026', '12');
    assert.deepEqual(await readdir(directory), ['abc']);
    assert.equal((await stat(path.join(directory, 'abc'))).mode & 0o777, 0o600);
  } finally {
    await rm(rootDir, { recursive: true, force: true });
  }
});

test('local: check reports not ok when the root cannot be a directory', async () => {
  const parent = await tempDirectory('files');
  try {
    const notADirectory = path.join(parent, 'plain-file');
    await writeFile(notADirectory, 'x');
    const result = await createLocalFileStore(notADirectory).check();
    assert.equal(result.ok, false);
    assert.match(result.detail ?? '', /not writable/);
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});

test('s3: check reports not ok for a bucket that does not exist', async () => {
  const s3rver = await startS3rver();
  try {
    const result = await s3StoreAt(s3rver.endpoint, 'no-such-bucket').check();
    assert.equal(result.ok, false);
    assert.match(result.detail ?? '', /does not exist/);
  } finally {
    await s3rver.stop();
  }
});

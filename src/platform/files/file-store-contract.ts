// One set of behaviours every FileStore adapter must show, so local and S3 cannot drift apart.
// Content is generated as a stream and compared by sha256: the tests themselves must not hold a
// whole large file in memory either.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { InvalidStorageKey, MAX_STORAGE_KEY_LENGTH, StoredFileNotFound } from './file-store.ts';
import type { FileStore } from './file-store.ts';

const CHUNK_BYTES = 64 * 1024;
const MiB = 1024 * 1024;

interface GeneratedContent {
  stream: Readable;
  /** The sha256 of what the stream emitted; complete once the stream has been fully read. */
  sha256(): string;
}

/** Random bytes produced a chunk at a time; failAfterBytes makes the stream error part-way. */
function generatedContent(totalBytes: number, failAfterBytes?: number): GeneratedContent {
  const hash = createHash('sha256');
  async function* chunks() {
    let sent = 0;
    while (sent < totalBytes) {
      if (failAfterBytes !== undefined && sent >= failAfterBytes) {
        throw new Error('The sender went away part-way through.');
      }
      const chunk = randomBytes(Math.min(CHUNK_BYTES, totalBytes - sent));
      hash.update(chunk);
      sent += chunk.length;
      yield chunk;
    }
  }
  let digest: string | undefined;
  return {
    stream: Readable.from(chunks(), { objectMode: false }),
    sha256: () => (digest ??= hash.digest('hex')),
  };
}

async function sha256Of(stream: Readable): Promise<{ sha256: string; sizeBytes: number }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    sizeBytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), sizeBytes };
}

function newKey(): string {
  return `files/2026/12/${randomUUID()}`;
}

/** A body that records whether anything read it, to show a refusal happened before storage. */
function untouchedBody(): { body: Readable; wasRead: () => boolean } {
  let read = false;
  const body = new Readable({
    read() {
      read = true;
      this.push(null);
    },
  });
  return { body, wasRead: () => read };
}

export function fileStoreContract(
  label: string,
  makeStore: () => Promise<{ store: FileStore; cleanup: () => Promise<void> }>,
): void {
  function withStore(name: string, body: (store: FileStore) => Promise<void>): void {
    test(`${label}: ${name}`, async () => {
      const { store, cleanup } = await makeStore();
      try {
        await body(store);
      } finally {
        await cleanup();
      }
    });
  }

  async function putGenerated(store: FileStore, key: string, totalBytes: number): Promise<string> {
    const content = generatedContent(totalBytes);
    const { sizeBytes } = await store.put(key, content.stream);
    assert.equal(sizeBytes, totalBytes);
    return content.sha256();
  }

  async function assertStored(store: FileStore, key: string, sha256: string, sizeBytes: number): Promise<void> {
    assert.deepEqual(await sha256Of(await store.get(key)), { sha256, sizeBytes });
  }

  withStore('a small body round-trips byte for byte', async (store) => {
    const key = newKey();
    const sha256 = await putGenerated(store, key, 1000);
    await assertStored(store, key, sha256, 1000);
  });

  withStore('an empty body round-trips', async (store) => {
    const key = newKey();
    const sha256 = await putGenerated(store, key, 0);
    await assertStored(store, key, sha256, 0);
  });

  withStore('a ~12 MB streamed body round-trips (several parts)', async (store) => {
    const key = newKey();
    const totalBytes = 12 * MiB + 12345;
    const sha256 = await putGenerated(store, key, totalBytes);
    await assertStored(store, key, sha256, totalBytes);
  });

  withStore('get of a missing key rejects with StoredFileNotFound', async (store) => {
    await assert.rejects(store.get(newKey()), StoredFileNotFound);
  });

  withStore('after delete, get rejects with StoredFileNotFound and exists is false', async (store) => {
    const key = newKey();
    await putGenerated(store, key, 2048);
    await store.delete(key);
    await assert.rejects(store.get(key), StoredFileNotFound);
    assert.equal(await store.exists(key), false);
  });

  withStore('deleting a missing key succeeds', async (store) => {
    const key = newKey();
    await store.delete(key);
    await store.delete(key);
    assert.equal(await store.exists(key), false);
  });

  withStore('exists is false before a put and true after', async (store) => {
    const key = newKey();
    assert.equal(await store.exists(key), false);
    await putGenerated(store, key, 10);
    assert.equal(await store.exists(key), true);
    assert.equal(await store.exists(newKey()), false, 'another key is still missing');
  });

  withStore('a put overwrites what was stored under the key', async (store) => {
    const key = newKey();
    await putGenerated(store, key, 300_000);
    const second = await putGenerated(store, key, 4096);
    await assertStored(store, key, second, 4096);
  });

  withStore('a body that errors half-way rejects and stores nothing', async (store) => {
    const key = newKey();
    // Past one 5 MiB part, so an S3 multipart upload has begun before the failure.
    const failing = generatedContent(12 * MiB, 6 * MiB);
    await assert.rejects(store.put(key, failing.stream), /part-way/);
    assert.equal(await store.exists(key), false);
    await assert.rejects(store.get(key), StoredFileNotFound);
  });

  withStore('a small body that errors rejects and stores nothing', async (store) => {
    const key = newKey();
    const failing = generatedContent(1 * MiB, 200_000);
    await assert.rejects(store.put(key, failing.stream), /part-way/);
    assert.equal(await store.exists(key), false);
  });

  const invalidKeys: [string, string][] = [
    ['../x', 'climbs out'],
    ['/abs', 'absolute'],
    ['A', 'upper case'],
    ['a//b', 'empty segment'],
    ['a/../b', 'dot-dot segment'],
    ['', 'empty'],
    ['a/', 'trailing slash'],
    ['files/report.pdf', "a user's file name"],
    ['a'.repeat(MAX_STORAGE_KEY_LENGTH + 1), 'too long'],
  ];
  for (const [key, why] of invalidKeys) {
    withStore(`an invalid key (${why}) is refused with InvalidStorageKey before storage is touched`, async (store) => {
      const { body, wasRead } = untouchedBody();
      await assert.rejects(store.put(key, body), InvalidStorageKey);
      assert.equal(wasRead(), false, 'the body was not read');
      await assert.rejects(store.get(key), InvalidStorageKey);
      await assert.rejects(store.delete(key), InvalidStorageKey);
      await assert.rejects(store.exists(key), InvalidStorageKey);
    });
  }

  withStore(`a key of exactly ${MAX_STORAGE_KEY_LENGTH} characters is accepted`, async (store) => {
    const key = `files/${'a'.repeat(MAX_STORAGE_KEY_LENGTH - 'files/'.length)}`;
    const sha256 = await putGenerated(store, key, 64);
    await assertStored(store, key, sha256, 64);
  });

  withStore('check reports ok', async (store) => {
    assert.deepEqual(await store.check(), { ok: true });
  });

  withStore('concurrent puts of different keys each store their own bytes', async (store) => {
    const sizes = [1 * MiB, 1 * MiB + 1, 700_000, 6 * MiB, 3];
    const stored = await Promise.all(
      sizes.map(async (sizeBytes) => {
        const key = newKey();
        return { key, sizeBytes, sha256: await putGenerated(store, key, sizeBytes) };
      }),
    );
    for (const { key, sizeBytes, sha256 } of stored) {
      await assertStored(store, key, sha256, sizeBytes);
    }
  });
}

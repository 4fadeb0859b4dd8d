import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import {
  decryptFile,
  encryptedSize,
  FileIntegrityError,
  FileKeyConfigError,
  FileKeyUnknownError,
  newFileEncryption,
  parseFileKeys,
  rewrapDataKey,
  type FileKey,
  type SealedDataKey,
} from './envelope.ts';

const CHUNK = 64 * 1024;
const HEADER = 16;
const TAG = 16;

function secret(): string {
  return randomBytes(32).toString('base64url');
}

const keys = parseFileKeys(`k1:${secret()}`);

/** Feeds `data` in pieces of `pieceSize` bytes through `transform`, returning every byte it emitted and any error. */
async function run(transform: Transform, data: Buffer, pieceSize = 100_000): Promise<{ out: Buffer; error: unknown }> {
  const pieces: Buffer[] = [];
  function* split() {
    for (let i = 0; i < data.length; i += pieceSize) yield data.subarray(i, i + pieceSize);
  }
  const sink = new Writable({
    write(piece: Buffer, _enc, cb) {
      pieces.push(piece);
      cb();
    },
  });
  let error: unknown;
  try {
    await pipeline(Readable.from(split()), transform, sink);
  } catch (err) {
    error = err;
  }
  return { out: Buffer.concat(pieces), error };
}

async function encrypt(data: Buffer, context = 'file-1', pieceSize?: number) {
  const enc = newFileEncryption(keys);
  const { out, error } = await run(enc.encrypt(context), data, pieceSize);
  assert.equal(error, undefined);
  return { sealed: enc.sealed, ciphertext: out };
}

async function decrypt(ciphertext: Buffer, sealed: SealedDataKey, context = 'file-1', withKeys: readonly FileKey[] = keys, pieceSize?: number) {
  return run(decryptFile(withKeys, sealed, context), ciphertext, pieceSize);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

for (const size of [0, 1, 65535, 65536, 65537, 5 * 1024 * 1024 + 123]) {
  test(`round trip of ${size} bytes, exact size`, async () => {
    const plain = randomBytes(size);
    const { sealed, ciphertext } = await encrypt(plain);
    assert.equal(ciphertext.length, encryptedSize(size));
    assert.equal(ciphertext.subarray(0, 4).toString('ascii'), 'DCF1');
    const { out, error } = await decrypt(ciphertext, sealed);
    assert.equal(error, undefined);
    assert.equal(sha256(out), sha256(plain));
  });
}

test('encryptedSize counts one tag per 64 KiB chunk and an empty final chunk', () => {
  assert.equal(encryptedSize(0), HEADER + TAG);
  assert.equal(encryptedSize(1), HEADER + 1 + TAG);
  assert.equal(encryptedSize(CHUNK), HEADER + CHUNK + TAG);
  assert.equal(encryptedSize(CHUNK + 1), HEADER + CHUNK + 1 + 2 * TAG);
  assert.throws(() => encryptedSize(-1), RangeError);
});

for (const pieceSize of [1, 7, 100_000]) {
  test(`input pushed in ${pieceSize}-byte pieces round-trips, both directions`, async () => {
    const plain = randomBytes(pieceSize === 1 ? CHUNK + 300 : 3 * CHUNK + 11);
    const { sealed, ciphertext } = await encrypt(plain, 'file-1', pieceSize);
    assert.equal(ciphertext.length, encryptedSize(plain.length));
    const { out, error } = await decrypt(ciphertext, sealed, 'file-1', keys, pieceSize);
    assert.equal(error, undefined);
    assert.ok(out.equals(plain));
  });
}

test('ciphertext holds no 16-byte window of the plaintext', async () => {
  // Repetitive, recognisable plaintext: any leak of it would show up as a shared window.
  const plain = Buffer.from('Dear patient, your results are ready. '.repeat(5000));
  const { ciphertext } = await encrypt(plain);
  const windows = new Set<string>();
  for (let i = 0; i + 16 <= plain.length; i++) windows.add(plain.toString('latin1', i, i + 16));
  for (let i = 0; i + 16 <= ciphertext.length; i++) assert.ok(!windows.has(ciphertext.toString('latin1', i, i + 16)), `window at ${i}`);
});

test('each file gets its own data key and nonce prefix', async () => {
  const plain = Buffer.alloc(1000, 1);
  const a = await encrypt(plain);
  const b = await encrypt(plain);
  assert.notEqual(a.sealed.wrappedKey, b.sealed.wrappedKey);
  assert.ok(!a.ciphertext.equals(b.ciphertext));
});

test('a wrong context (ciphertext swapped onto another record) fails with no plaintext', async () => {
  const { sealed, ciphertext } = await encrypt(randomBytes(1000));
  const { out, error } = await decrypt(ciphertext, sealed, 'file-2');
  assert.ok(error instanceof FileIntegrityError);
  assert.equal(out.length, 0);
});

test('another file’s data key (wrong key) fails with no plaintext', async () => {
  const { ciphertext } = await encrypt(randomBytes(1000));
  const other = await encrypt(randomBytes(10));
  const { out, error } = await decrypt(ciphertext, other.sealed);
  assert.ok(error instanceof FileIntegrityError);
  assert.equal(out.length, 0);
});

test('a different KEK under the same id fails as an integrity error on the stream', async () => {
  const { sealed, ciphertext } = await encrypt(randomBytes(1000));
  const impostor = parseFileKeys(`k1:${secret()}`);
  const { out, error } = await decrypt(ciphertext, sealed, 'file-1', impostor);
  assert.ok(error instanceof FileIntegrityError);
  assert.equal(out.length, 0);
});

test('a tampered wrapped key fails', async () => {
  const { sealed, ciphertext } = await encrypt(randomBytes(100));
  const wrapped = Buffer.from(sealed.wrappedKey, 'base64url');
  wrapped[20]! ^= 1;
  const { error } = await decrypt(ciphertext, { ...sealed, wrappedKey: wrapped.toString('base64url') });
  assert.ok(error instanceof FileIntegrityError);
});

test('a flipped bit in any chunk, tag or header fails and releases nothing of that chunk', async () => {
  const plain = randomBytes(3 * CHUNK + 500);
  const { sealed, ciphertext } = await encrypt(plain);
  const sealedChunk = CHUNK + TAG;
  const cases: Array<{ at: number; goodPrefix: number }> = [
    { at: 2, goodPrefix: 0 }, // magic
    { at: 5, goodPrefix: 0 }, // chunk size
    { at: 10, goodPrefix: 0 }, // nonce prefix
    { at: HEADER + 3, goodPrefix: 0 }, // first chunk body
    { at: HEADER + sealedChunk - 1, goodPrefix: 0 }, // first chunk tag
    { at: HEADER + sealedChunk + 7, goodPrefix: CHUNK }, // second chunk
    { at: ciphertext.length - 1, goodPrefix: 3 * CHUNK }, // final chunk tag
  ];
  for (const { at, goodPrefix } of cases) {
    const tampered = Buffer.from(ciphertext);
    tampered[at]! ^= 0x10;
    const { out, error } = await decrypt(tampered, sealed);
    assert.ok(error instanceof FileIntegrityError, `bit at ${at}`);
    // Only chunks before the tampered one may have been released, and they must be genuine.
    assert.ok(out.length <= goodPrefix, `released ${out.length} bytes when tampering at ${at}`);
    assert.ok(out.equals(plain.subarray(0, out.length)));
  }
});

test('truncation fails: at a chunk boundary (missing last chunk), mid-chunk, and inside the header', async () => {
  const plain = randomBytes(2 * CHUNK + 10);
  const { sealed, ciphertext } = await encrypt(plain);
  const boundary = HEADER + 2 * (CHUNK + TAG);
  // [cut, most plaintext that may be released: only whole genuine chunks known not to be last]
  const cuts: Array<[number, number]> = [
    [boundary, CHUNK], // the second chunk is now last but was sealed as non-final: it must not be released
    [boundary + 5, 2 * CHUNK],
    [HEADER + 100, 0],
    [HEADER, 0],
    [9, 0],
    [0, 0],
  ];
  for (const [cut, mayRelease] of cuts) {
    const { out, error } = await decrypt(ciphertext.subarray(0, cut), sealed);
    assert.ok(error instanceof FileIntegrityError, `cut at ${cut}`);
    assert.ok(out.length <= mayRelease, `cut at ${cut} released ${out.length}`);
    assert.ok(out.equals(plain.subarray(0, out.length)));
  }
});

test('a full-chunk file cut back to nothing but its header fails', async () => {
  const { sealed, ciphertext } = await encrypt(randomBytes(CHUNK));
  const { error } = await decrypt(ciphertext.subarray(0, HEADER), sealed);
  assert.ok(error instanceof FileIntegrityError);
});

test('reordered chunks fail and release nothing', async () => {
  const plain = randomBytes(3 * CHUNK + 1);
  const { sealed, ciphertext } = await encrypt(plain);
  const chunkAt = (i: number) => ciphertext.subarray(HEADER + i * (CHUNK + TAG), HEADER + (i + 1) * (CHUNK + TAG));
  const swapped = Buffer.concat([ciphertext.subarray(0, HEADER), chunkAt(1), chunkAt(0), ciphertext.subarray(HEADER + 2 * (CHUNK + TAG))]);
  const { out, error } = await decrypt(swapped, sealed);
  assert.ok(error instanceof FileIntegrityError);
  assert.equal(out.length, 0);
});

test('bytes appended after the final chunk fail', async () => {
  const { sealed, ciphertext } = await encrypt(randomBytes(CHUNK - 16));
  const { error } = await decrypt(Buffer.concat([ciphertext, Buffer.alloc(CHUNK + TAG + 1)]), sealed);
  assert.ok(error instanceof FileIntegrityError);
});

test('rotation: rewrap under the new key, file bytes untouched, still decrypts', async () => {
  const oldSecret = secret();
  const oldKeys = parseFileKeys(`old:${oldSecret}`);
  const plain = randomBytes(CHUNK + 9);
  const enc = newFileEncryption(oldKeys);
  const { out: ciphertext } = await run(enc.encrypt('file-9'), plain);
  assert.equal(enc.sealed.keyId, 'old');

  const rotated = parseFileKeys(`new:${secret()},old:${oldSecret}`);
  const rewrapped = rewrapDataKey(rotated, enc.sealed);
  assert.equal(rewrapped.keyId, 'new');
  assert.notEqual(rewrapped.wrappedKey, enc.sealed.wrappedKey);

  const newOnly = rotated.slice(0, 1);
  const { out, error } = await decrypt(ciphertext, rewrapped, 'file-9', newOnly);
  assert.equal(error, undefined);
  assert.ok(out.equals(plain));
});

test('rotation: removing the old key before rewrapping is a FileKeyUnknownError', async () => {
  const oldKeys = parseFileKeys(`old:${secret()}`);
  const enc = newFileEncryption(oldKeys);
  const newOnly = parseFileKeys(`new:${secret()}`);
  assert.throws(() => rewrapDataKey(newOnly, enc.sealed), FileKeyUnknownError);
  assert.throws(() => decryptFile(newOnly, enc.sealed, 'file-1'), FileKeyUnknownError);
});

test('a relabelled key id on a wrapped key fails', () => {
  const s = secret();
  const both = parseFileKeys(`a:${s},b:${s}`);
  const enc = newFileEncryption(both);
  assert.throws(() => rewrapDataKey(both, { ...enc.sealed, keyId: 'b' }), FileIntegrityError);
});

test('parseFileKeys accepts a rotation list newest first', () => {
  const parsed = parseFileKeys(` new:${secret()} , old:${secret()} `);
  assert.deepEqual(
    parsed.map((k) => k.id),
    ['new', 'old'],
  );
  assert.ok(parsed.every((k) => k.secret.length === 32));
});

test('parseFileKeys errors name the setting', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    [' , ', /empty/],
    [`k1:${randomBytes(31).toString('base64url')}`, /exactly 32 bytes/],
    [`k1:${randomBytes(33).toString('base64url')}`, /exactly 32 bytes/],
    [`k1:${secret()},k1:${secret()}`, /more than once/],
    [`bad id:${secret()}`, /key id/],
    [`:${secret()}`, /key id/],
    [`${'x'.repeat(33)}:${secret()}`, /key id/],
    ['k1', /id:base64url-secret/],
    [`k1:${secret().slice(0, 40)}!!!`, /not base64url/],
  ];
  for (const [raw, message] of bad) {
    assert.throws(
      () => parseFileKeys(raw, 'MY_FILE_KEYS'),
      (err: unknown) => err instanceof FileKeyConfigError && err.message.includes('MY_FILE_KEYS') && message.test(err.message),
      raw,
    );
  }
  assert.throws(() => parseFileKeys(''), /FILE_ENCRYPTION_KEYS/);
});

test('property: random plaintexts pushed at random split points round-trip', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 0, maxLength: 3 * CHUNK }),
      fc.array(fc.nat({ max: 3 * CHUNK }), { maxLength: 6 }),
      fc.string(),
      async (bytes, cuts, context) => {
        const plain = Buffer.from(bytes);
        const points = [...new Set(cuts.map((c) => c % (plain.length + 1)))].sort((a, b) => a - b);
        const pieces: Buffer[] = [];
        let from = 0;
        for (const p of [...points, plain.length]) {
          pieces.push(plain.subarray(from, p));
          from = p;
        }
        const enc = newFileEncryption(keys);
        const chunks: Buffer[] = [];
        await pipeline(Readable.from(pieces), enc.encrypt(context), async (source: AsyncIterable<Buffer>) => {
          for await (const c of source) chunks.push(c);
        });
        const ciphertext = Buffer.concat(chunks);
        assert.equal(ciphertext.length, encryptedSize(plain.length));
        // Decrypt split at the same points shifted into the ciphertext, to exercise the decryptor's buffering too.
        const { out, error } = await run(decryptFile(keys, enc.sealed, context), ciphertext, 1 + (points[0] ?? 0));
        assert.equal(error, undefined);
        assert.ok(out.equals(plain));
      },
    ),
    { numRuns: 40 },
  );
});

// The clamd adapter against a REAL clamd (started once for this file, with a tiny local signature
// database), plus stand-in servers for the ways a clamd can misbehave: hang, babble, vanish.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { clamdAvailable, EICAR, EICAR_EMBEDDED_SIGNATURE, EICAR_FILE_SIGNATURE, startClamd, type RunningClamd } from '../../../test/helpers/clamd.ts';
import { createClamdScanner } from './clamd-scanner.ts';
import { createNoScanner, ScanFailed, type ScanFailureReason } from './scanner.ts';

const NOT_INSTALLED = 'clamd is not installed: apt-get install -y clamav-daemon';
const installed = clamdAvailable();
// Small enough to test quickly, large enough that the 3 MB clean file fits under it.
const STREAM_MAX_LENGTH_BYTES = 4 * 1024 * 1024;
let clamd: RunningClamd | undefined;

before(
  async () => {
    if (installed) clamd = await startClamd({ streamMaxLength: '4M' });
  },
  { timeout: 120_000 },
);
after(async () => {
  await clamd?.stop();
});

if (!installed && process.env.CI === 'true') {
  test('clamd is installed (required in CI)', () => {
    assert.fail(`${NOT_INSTALLED}: in CI the clamd adapter must be tested against a real clamd`);
  });
}

/** The shared clamd, or undefined after marking the test skipped (clamd not installed here). */
function requireClamd(t: TestContext): RunningClamd | undefined {
  if (!installed) {
    t.skip(NOT_INSTALLED);
    return undefined;
  }
  assert.ok(clamd, 'clamd should have been started in before()');
  return clamd;
}

function overTcp(running: RunningClamd, extra: { chunkBytes?: number } = {}) {
  return createClamdScanner({ host: running.host, port: running.port, timeoutMs: 20_000, ...extra });
}

function overUnixSocket(running: RunningClamd) {
  return createClamdScanner({ socket: running.socket, timeoutMs: 20_000 });
}

/** `totalBytes` of harmless bytes, produced `pieceBytes` at a time (never held whole). */
function cleanStream(totalBytes: number, pieceBytes: number): Readable {
  let produced = 0;
  return new Readable({
    read() {
      if (produced >= totalBytes) {
        this.push(null);
        return;
      }
      const size = Math.min(pieceBytes, totalBytes - produced);
      const piece = Buffer.alloc(size);
      for (let i = 0; i < size; i++) piece[i] = (produced + i) % 251;
      produced += size;
      this.push(piece);
    },
  });
}

async function assertScanFails(promise: Promise<unknown>, reason: ScanFailureReason): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ScanFailed, `expected ScanFailed, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    return true;
  });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function unusedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await close(server);
  return port;
}

test('a clean file is clean (TCP)', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  const verdict = await overTcp(running).scan(Readable.from([Buffer.from('Dear Dr Patel, here is my repeat prescription list.\n')]));
  assert.equal(verdict.outcome, 'clean');
  assert.match(verdict.engine, /^clamd ClamAV \d/);
});

test('the EICAR test file is infected, with the signature name alone (TCP)', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  const verdict = await overTcp(running).scan(Readable.from([EICAR]));
  assert.equal(verdict.outcome, 'infected');
  assert.ok(verdict.outcome === 'infected');
  // Both local signatures match the bare EICAR file; which one clamd reports first is its choice.
  assert.ok([EICAR_FILE_SIGNATURE, EICAR_EMBEDDED_SIGNATURE].includes(verdict.signature), `unexpected signature ${verdict.signature}`);
  assert.match(verdict.engine, /^clamd ClamAV \d/);
});

test('EICAR after 1 MB of clean bytes is still found (unix socket)', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  const source = Readable.from((async function* () {
    yield* cleanStream(1024 * 1024, 64 * 1024);
    yield EICAR;
    yield Buffer.from('\ntrailing clean text\n');
  })());
  const verdict = await overUnixSocket(running).scan(source);
  assert.deepEqual(verdict.outcome === 'infected' && verdict.signature, EICAR_EMBEDDED_SIGNATURE);
});

test('a clean file is clean over the unix socket too', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  const verdict = await overUnixSocket(running).scan(Readable.from([Buffer.from('just text')]));
  assert.equal(verdict.outcome, 'clean');
});

test('a 3 MB clean file streamed in small chunks is clean, and the source is read to its end', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  const source = cleanStream(3 * 1024 * 1024, 1000);
  const verdict = await overTcp(running, { chunkBytes: 4096 }).scan(source);
  assert.equal(verdict.outcome, 'clean');
  assert.equal(source.readableEnded, true);
});

test('a file over StreamMaxLength fails as too_large, never as clean', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  const source = cleanStream(STREAM_MAX_LENGTH_BYTES + 1024 * 1024, 64 * 1024);
  await assertScanFails(overTcp(running).scan(source), 'too_large');
  assert.equal(source.destroyed, true, 'the rest of the refused file is not read');
});

test('check() says ok while clamd answers, over TCP and the unix socket', async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  assert.deepEqual(await overTcp(running).check(), { ok: true });
  assert.deepEqual(await overUnixSocket(running).check(), { ok: true });
  t.diagnostic(`the shared clamd answered PING ${running.startedInMs} ms after it was spawned`);
});

test('a source that errors midway rejects and leaves no connection open', { timeout: 30_000 }, async (t) => {
  const running = requireClamd(t);
  if (!running) return;
  // Relay through a local proxy so the test can see the scanner's connection close.
  const clientClosed: Promise<void>[] = [];
  const proxy = createServer((client: Socket) => {
    clientClosed.push(new Promise((resolve) => client.once('close', () => resolve())));
    const upstream = connect({ host: running.host, port: running.port });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  const port = await listen(proxy);
  try {
    const source = Readable.from((async function* () {
      yield* cleanStream(256 * 1024, 16 * 1024);
      throw new Error('the upload was cut off');
    })());
    await assert.rejects(createClamdScanner({ host: '127.0.0.1', port, timeoutMs: 20_000 }).scan(source), ScanFailed);
    assert.equal(source.destroyed, true);
    assert.ok(clientClosed.length >= 1);
    await Promise.all(clientClosed);
  } finally {
    await close(proxy);
  }
});

test('nothing listening on the port: unavailable, and check() is not ok', async () => {
  const port = await unusedPort();
  const scanner = createClamdScanner({ host: '127.0.0.1', port, timeoutMs: 5_000 });
  const source = Readable.from([Buffer.from('hello')]);
  await assertScanFails(scanner.scan(source), 'unavailable');
  assert.equal(source.destroyed, true);
  const health = await scanner.check();
  assert.equal(health.ok, false);
  assert.match(health.detail ?? '', /ECONNREFUSED/);
});

test('no unix socket at the path: unavailable, and check() is not ok', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dovecote-no-clamd-'));
  try {
    const scanner = createClamdScanner({ socket: join(dir, 'clamd.sock'), timeoutMs: 5_000 });
    await assertScanFails(scanner.scan(Readable.from([Buffer.from('hello')])), 'unavailable');
    assert.equal((await scanner.check()).ok, false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a clamd that stops: scans fail as unavailable and check() turns false', async (t) => {
  if (!installed) return t.skip(NOT_INSTALLED);
  // Its own clamd, so stopping it does not touch the one the other tests share.
  const own = await startClamd();
  let stopped = false;
  try {
    const scanner = overTcp(own);
    assert.equal((await scanner.check()).ok, true);
    await own.stop();
    stopped = true;
    await assertScanFails(scanner.scan(Readable.from([Buffer.from('hello')])), 'unavailable');
    assert.equal((await scanner.check()).ok, false);
  } finally {
    if (!stopped) await own.stop();
  }
});

test('a server that accepts and never answers: timeout, and the connection is closed', async () => {
  const held: Socket[] = [];
  const closed: Promise<void>[] = [];
  const silent = createServer((socket) => {
    held.push(socket);
    closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
    socket.resume(); // read everything, say nothing
  });
  const port = await listen(silent);
  try {
    const scanner = createClamdScanner({ host: '127.0.0.1', port, timeoutMs: 300 });
    const source = cleanStream(64 * 1024, 8 * 1024);
    await assertScanFails(scanner.scan(source), 'timeout');
    assert.equal((await scanner.check()).ok, false);
    await Promise.all(closed);
  } finally {
    for (const socket of held) socket.destroy();
    await close(silent);
  }
});

test('a server that answers garbage: error, never clean', async () => {
  const answers = ['HTTP/1.1 400 Bad Request\r\n\r\n', 'stream: maybe\0', `${'A'.repeat(10_000)}`];
  for (const answer of answers) {
    const babbler = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.end(answer));
    });
    const port = await listen(babbler);
    try {
      const scanner = createClamdScanner({ host: '127.0.0.1', port, timeoutMs: 5_000 });
      await assertScanFails(scanner.scan(Readable.from([Buffer.from('hello')])), 'error');
    } finally {
      await close(babbler);
    }
  }
});

test('an engine ERROR answer is an error, not a verdict', async () => {
  const failing = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end('stream: Can\'t allocate memory ERROR\0'));
  });
  const port = await listen(failing);
  try {
    const scanner = createClamdScanner({ host: '127.0.0.1', port, timeoutMs: 5_000 });
    await assertScanFails(scanner.scan(Readable.from([Buffer.from('hello')])), 'error');
  } finally {
    await close(failing);
  }
});

test('the none scanner reads the stream to its end and says unscanned', async () => {
  const source = cleanStream(200 * 1024, 8 * 1024);
  const scanner = createNoScanner();
  assert.equal(scanner.name, 'none');
  assert.deepEqual(await scanner.scan(source), { outcome: 'unscanned', engine: 'none' });
  assert.equal(source.readableEnded, true);
  assert.equal((await scanner.check()).ok, true);
});

test('the none scanner fails closed when the stream errors', async () => {
  const source = Readable.from((async function* () {
    yield Buffer.from('part');
    throw new Error('cut off');
  })());
  await assertScanFails(createNoScanner().scan(source), 'error');
});

test('createClamdScanner needs exactly one of socket or host and port', () => {
  assert.throws(() => createClamdScanner({ timeoutMs: 1000 }), TypeError);
  assert.throws(() => createClamdScanner({ socket: '/tmp/x.sock', host: '127.0.0.1', port: 3310, timeoutMs: 1000 }), TypeError);
  assert.throws(() => createClamdScanner({ host: '127.0.0.1', timeoutMs: 1000 }), TypeError);
});

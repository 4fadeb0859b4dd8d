// ClamAV's clamd, spoken to directly over its socket protocol (INSTREAM), TCP or unix socket.
// It fails closed: anything but a well-formed "OK" or "... FOUND" answer from clamd, received after
// the whole file was sent, is a ScanFailed. The file is streamed with back-pressure, so a large
// upload never sits whole in memory, and every failure path destroys both the socket and the source
// so neither a half-open connection nor a half-read upload outlives the scan.
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ScanFailed, type Scanner, type ScanVerdict } from './scanner.ts';

export interface ClamdScannerOptions {
  /** Path of clamd's unix socket (LocalSocket). Give this, or host and port. */
  socket?: string;
  /** clamd's TCPAddr and TCPSocket. */
  host?: string;
  port?: number;
  /** One budget for a whole scan: connecting, streaming the file and waiting for the answer. */
  timeoutMs: number;
  /** Largest INSTREAM chunk sent; larger pieces of the source are split. */
  chunkBytes?: number;
}

const DEFAULT_CHUNK_BYTES = 64 * 1024;
// clamd's answers are one short line; anything longer is not clamd, and must not grow without bound.
const MAX_ANSWER_BYTES = 4096;

type Endpoint = { path: string } | { host: string; port: number };

function endpointOf(options: ClamdScannerOptions): Endpoint {
  const hasSocket = options.socket !== undefined;
  const hasTcp = options.host !== undefined || options.port !== undefined;
  if (hasSocket === hasTcp) {
    throw new TypeError('createClamdScanner needs exactly one of `socket` or `host` and `port`');
  }
  if (hasSocket) return { path: options.socket as string };
  if (options.host === undefined || options.port === undefined) {
    throw new TypeError('createClamdScanner needs both `host` and `port` for TCP');
  }
  return { host: options.host, port: options.port };
}

function describe(endpoint: Endpoint): string {
  return 'path' in endpoint ? `clamd at ${endpoint.path}` : `clamd at ${endpoint.host}:${endpoint.port}`;
}

export function createClamdScanner(options: ClamdScannerOptions): Scanner {
  const endpoint = endpointOf(options);
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes <= 0) throw new TypeError('chunkBytes must be a positive integer');
  if (!(options.timeoutMs > 0)) throw new TypeError('timeoutMs must be positive');
  const where = describe(endpoint);

  // The engine version (with its signature database version) is recorded with each verdict, so a
  // later signature update can tell which files were passed by an older database. It is asked for
  // once, alongside the first scan rather than before it, and asked again only if that failed.
  let knownVersion: string | undefined;
  let versionRequest: Promise<string | undefined> | undefined;
  function engineVersion(): Promise<string | undefined> {
    if (knownVersion !== undefined) return Promise.resolve(knownVersion);
    versionRequest ??= command(endpoint, 'VERSION', options.timeoutMs)
      .then((answer) => (/^ClamAV \S/.test(answer) ? (knownVersion = answer) : undefined))
      .catch(() => undefined)
      .finally(() => {
        versionRequest = undefined;
      });
    return versionRequest;
  }

  return {
    name: 'clamd',
    async scan(body: Readable): Promise<ScanVerdict> {
      const version = engineVersion();
      const verdict = await instream(endpoint, where, body, chunkBytes, options.timeoutMs);
      const known = await version;
      const engine = known === undefined ? 'clamd' : `clamd ${known}`;
      return verdict.outcome === 'clean' ? { outcome: 'clean', engine } : { outcome: 'infected', engine, signature: verdict.signature };
    },
    async check() {
      try {
        const answer = await command(endpoint, 'PING', options.timeoutMs);
        return answer === 'PONG' ? { ok: true } : { ok: false, detail: `${where} answered PING with something other than PONG` };
      } catch (error) {
        return { ok: false, detail: error instanceof Error ? error.message : String(error) };
      }
    },
  };
}

type RawVerdict = { outcome: 'clean' } | { outcome: 'infected'; signature: string };

/** Turns clamd's INSTREAM answer into a verdict, or the ScanFailed it amounts to. */
function interpretInstreamAnswer(answer: string, where: string): RawVerdict | ScanFailed {
  if (answer === 'stream: OK') return { outcome: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(answer);
  if (found?.[1] !== undefined) return { outcome: 'infected', signature: found[1] };
  if (/size limit exceeded/i.test(answer)) {
    return new ScanFailed('too_large', `The file is larger than ${where} accepts (StreamMaxLength)`);
  }
  if (/ ERROR$/.test(answer)) return new ScanFailed('error', `${where} could not scan the file: ${answer}`);
  return new ScanFailed('error', `${where} gave an answer that is not a scan result`);
}

/** A socket error means clamd cannot be reached or went away: the scan did not happen. */
function unavailable(where: string, error: unknown): ScanFailed {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return new ScanFailed('unavailable', `${where} is not reachable${code ? ` (${code})` : ''}`, { cause: error });
}

function openSocket(endpoint: Endpoint): Socket {
  return 'path' in endpoint ? connect({ path: endpoint.path }) : connect({ host: endpoint.host, port: endpoint.port });
}

/**
 * Collects a NUL-terminated answer (clamd's "z" command form). Calls `onAnswer` once with the
 * answer text, or with undefined when the connection ended without a terminated answer.
 */
function collectAnswer(socket: Socket, onAnswer: (answer: string | undefined, overlong: boolean) => void): void {
  const received: Buffer[] = [];
  let receivedBytes = 0;
  let done = false;
  const finish = (answer: string | undefined, overlong: boolean) => {
    if (done) return;
    done = true;
    onAnswer(answer, overlong);
  };
  socket.on('data', (data: Buffer) => {
    if (done) return;
    const end = data.indexOf(0);
    if (end === -1) {
      received.push(data);
      receivedBytes += data.length;
      if (receivedBytes > MAX_ANSWER_BYTES) finish(undefined, true);
      return;
    }
    received.push(data.subarray(0, end));
    finish(Buffer.concat(received).toString('utf8').trim(), false);
  });
  socket.on('end', () => {
    // A peer that closes after an unterminated line still said something; judge it as an answer.
    finish(receivedBytes > 0 ? Buffer.concat(received).toString('utf8').trim() : undefined, false);
  });
}

/** One short command (PING, VERSION) and its answer. */
function command(endpoint: Endpoint, name: 'PING' | 'VERSION', timeoutMs: number): Promise<string> {
  const where = describe(endpoint);
  return new Promise((resolve, reject) => {
    const socket = openSocket(endpoint);
    const timer = setTimeout(() => settle(new ScanFailed('timeout', `${where} did not answer ${name} in ${timeoutMs} ms`)), timeoutMs);
    let settled = false;
    function settle(outcome: string | ScanFailed) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (typeof outcome === 'string') resolve(outcome);
      else reject(outcome);
    }
    socket.on('error', (error) => settle(unavailable(where, error)));
    socket.on('close', () => settle(new ScanFailed('unavailable', `${where} closed the connection before answering ${name}`)));
    socket.on('connect', () => socket.write(`z${name}\0`));
    collectAnswer(socket, (answer, overlong) => {
      if (answer === undefined) {
        settle(overlong ? new ScanFailed('error', `${where} answered ${name} with too much`) : new ScanFailed('unavailable', `${where} closed the connection before answering ${name}`));
      } else {
        settle(answer);
      }
    });
  });
}

function instream(endpoint: Endpoint, where: string, body: Readable, chunkBytes: number, timeoutMs: number): Promise<RawVerdict> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let sourceEnded = false;
    let terminatorSent = false;
    let connected = false;
    const deadline = performance.now() + timeoutMs;
    const socket = openSocket(endpoint);
    const timer = setTimeout(() => fail(new ScanFailed('timeout', `${where} did not finish scanning in ${timeoutMs} ms`)), timeoutMs);

    const onSourceData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let writable = true;
      for (let offset = 0; offset < bytes.length; offset += chunkBytes) {
        const piece = bytes.subarray(offset, offset + chunkBytes);
        const length = Buffer.alloc(4);
        length.writeUInt32BE(piece.length, 0);
        socket.write(length);
        writable = socket.write(piece);
      }
      // Back-pressure: stop reading the upload until clamd has taken what is already queued.
      if (!writable) {
        body.pause();
        socket.once('drain', resumeSource);
      }
    };
    const resumeSource = () => {
      if (!settled) body.resume();
    };
    const onSourceEnd = () => {
      sourceEnded = true;
      terminatorSent = true;
      socket.write(Buffer.alloc(4)); // a zero length ends the stream; clamd scans and answers
    };
    const onSourceError = (error: Error) => {
      fail(new ScanFailed('error', 'The file could not be read to its end, so it was not scanned', { cause: error }));
    };

    function detachSource() {
      body.off('data', onSourceData);
      body.off('end', onSourceEnd);
      body.off('error', onSourceError);
      socket.off('drain', resumeSource);
    }

    function fail(failure: ScanFailed) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      detachSource();
      socket.destroy();
      // The caller refuses the file; stop reading the rest of it and release whatever feeds it.
      if (!sourceEnded) body.destroy();
      reject(failure);
    }

    function succeed(verdict: RawVerdict) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      detachSource();
      socket.destroy();
      resolve(verdict);
    }

    // clamd answers "size limit exceeded" and closes as soon as a stream passes StreamMaxLength,
    // while this side is still sending. The close arrives as a reset, and Node then drops the socket
    // (and the answer waiting unread in it) as soon as the next write fails. So a connection that
    // breaks mid-stream is judged by asking clamd whether it is still there: if it answers PING it
    // cut the stream off on purpose, which it does only for StreamMaxLength; if not, it went away.
    let judgingBrokenStream = false;
    function judgeBrokenStream(error: unknown) {
      if (settled || judgingBrokenStream) return;
      judgingBrokenStream = true;
      // Stop feeding the dead socket, but keep listening for the source's errors meanwhile.
      body.off('data', onSourceData);
      socket.off('drain', resumeSource);
      body.pause();
      const remainingMs = Math.max(1, deadline - performance.now());
      command(endpoint, 'PING', remainingMs)
        .then((answer) => answer === 'PONG')
        .catch(() => false)
        .then((clamdIsUp) => {
          judgingBrokenStream = false;
          fail(
            clamdIsUp
              ? new ScanFailed('too_large', `${where} stopped the stream before the end of the file: it is larger than clamd accepts (StreamMaxLength)`, { cause: error })
              : unavailable(where, error),
          );
        });
    }

    body.on('error', onSourceError);
    socket.on('error', (error) => {
      // Also once the terminator is queued: a fast source can have written all of a too-large file
      // into the socket's buffer before clamd's reset arrives. Either way the file is refused.
      if (connected) judgeBrokenStream(error);
      else fail(unavailable(where, error));
    });
    socket.on('close', () => {
      if (!judgingBrokenStream) fail(new ScanFailed('unavailable', `${where} closed the connection before answering`));
    });
    socket.on('connect', () => {
      connected = true;
      socket.write('zINSTREAM\0');
      // Only now start reading the upload, so nothing piles up while the connection is being made.
      body.on('end', onSourceEnd);
      body.on('data', onSourceData);
      body.resume();
    });
    collectAnswer(socket, (answer, overlong) => {
      if (answer === undefined) {
        fail(overlong ? new ScanFailed('error', `${where} gave an answer that is not a scan result`) : new ScanFailed('unavailable', `${where} closed the connection before answering`));
        return;
      }
      const outcome = interpretInstreamAnswer(answer, where);
      if (outcome instanceof ScanFailed) {
        fail(outcome);
      } else if (!terminatorSent && outcome.outcome === 'clean') {
        // clamd scans only once the stream is complete; "clean" for part of a file is not a verdict.
        fail(new ScanFailed('error', `${where} answered before the whole file was sent`));
      } else {
        if (!sourceEnded) body.destroy();
        succeed(outcome);
      }
    });
  });
}


// A real clamd for tests, in a temp dir, with a tiny local signature database (the public one is
// large and may not be downloadable). Two signatures cover the ways a scan can find EICAR:
// - an MD5 hash signature (.hdb) that matches the EICAR test file exactly, made by sigtool as
//   ClamAV's documentation describes;
// - a body signature (.ndb) that matches the EICAR string anywhere in a file, because a hash
//   signature never matches a file that merely contains EICAR among other bytes.
// Starting clamd takes seconds, so a test file starts one and shares it (node:test before/after).
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The EICAR anti-virus test file: harmless, and detected by every scanner as if it were malware. */
export const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*', 'ascii');

/** What clamd reports for the exact EICAR file (hash signature; clamd adds ".UNOFFICIAL" to local ones). */
export const EICAR_FILE_SIGNATURE = 'eicar.com.UNOFFICIAL';
/** What clamd reports for a file that contains EICAR among other bytes (body signature). */
export const EICAR_EMBEDDED_SIGNATURE = 'Dovecote-Test-EICAR-Embedded.UNOFFICIAL';

const CLAMD_PATHS = ['/usr/sbin/clamd'];

function clamdPath(): string | undefined {
  const candidates = [...CLAMD_PATHS, ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'clamd'))];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next
    }
  }
  return undefined;
}

/** Is clamd installed (/usr/sbin/clamd, or `clamd` on PATH)? */
export function clamdAvailable(): boolean {
  return clamdPath() !== undefined;
}

export interface RunningClamd {
  host: string;
  port: number;
  socket: string;
  /** How long clamd took from spawn to its first PONG. */
  startedInMs: number;
  stop: () => Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not find a free port');
  return address.port;
}

function pingOnce(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const received: Buffer[] = [];
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 2000);
    socket.on('connect', () => socket.write('zPING\0'));
    socket.on('data', (data: Buffer) => {
      received.push(data);
      if (Buffer.concat(received).toString('utf8').startsWith('PONG\0')) done(true);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

export async function startClamd(options: { streamMaxLength?: string } = {}): Promise<RunningClamd> {
  const binary = clamdPath();
  if (binary === undefined) throw new Error('clamd is not installed: apt-get install -y clamav-daemon');
  const dir = await mkdtemp(join(tmpdir(), 'dovecote-clamd-'));
  try {
    const eicarFile = join(dir, 'eicar.com');
    await writeFile(eicarFile, EICAR);
    const hashSignature = execFileSync('sigtool', ['--md5', eicarFile], { cwd: dir, encoding: 'utf8' });
    await writeFile(join(dir, 'test.hdb'), hashSignature);
    // name:target type (0 = any file):offset (* = anywhere):hex body
    await writeFile(join(dir, 'test.ndb'), `Dovecote-Test-EICAR-Embedded:0:*:${EICAR.toString('hex')}\n`);

    const host = '127.0.0.1';
    const port = await freePort();
    const socket = join(dir, 'clamd.sock');
    const config = [
      `DatabaseDirectory ${dir}`,
      `TCPSocket ${port}`,
      `TCPAddr ${host}`,
      `LocalSocket ${socket}`,
      'Foreground yes',
      `LogFile ${join(dir, 'clamd.log')}`,
      `PidFile ${join(dir, 'clamd.pid')}`,
      `TemporaryDirectory ${dir}`,
      `StreamMaxLength ${options.streamMaxLength ?? '25M'}`,
      // A test database never changes; do not spend time re-checking it.
      'SelfCheck 0',
    ].join('\n');
    const configFile = join(dir, 'clamd.conf');
    await writeFile(configFile, `${config}\n`);

    const startedAt = performance.now();
    const child = spawn(binary, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString('utf8')));
    child.stderr.on('data', (data: Buffer) => (output += data.toString('utf8')));
    let exited = false;
    const exit = new Promise<void>((resolve) =>
      child.once('exit', () => {
        exited = true;
        resolve();
      }),
    );
    child.once('error', (error) => (output += `\n${error.message}`));

    const stop = async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exit;
        clearTimeout(killer);
      }
      await rm(dir, { recursive: true, force: true });
    };

    const deadline = startedAt + 90_000;
    while (!(await pingOnce(host, port))) {
      if (exited || performance.now() > deadline) {
        await stop();
        throw new Error(`clamd did not answer PING (${exited ? 'it exited' : 'within 90 s'}):\n${output.slice(-2000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return { host, port, socket, startedInMs: Math.round(performance.now() - startedAt), stop };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

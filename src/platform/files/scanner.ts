// The malware-scanning port. Every uploaded file passes through a Scanner before anyone else can
// fetch it. The rule this module exists to enforce: a file that could not be scanned is refused
// (fail closed). A scanner that is down, slow or confused must never turn into "clean", so every
// failure is a ScanFailed rejection, and only a real answer from the engine becomes a verdict.
import type { Readable } from 'node:stream';

export type ScanVerdict =
  | { outcome: 'clean'; engine: string }
  | { outcome: 'infected'; engine: string; signature: string }
  // Only the `none` scanner says this: the deployment chose to run without a scanner, and callers
  // decide (by configuration) whether an unscanned file is acceptable.
  | { outcome: 'unscanned'; engine: 'none' };

export type ScanFailureReason = 'unavailable' | 'timeout' | 'too_large' | 'error';

/** The file could not be scanned: treat as refused (fail closed), never as clean. */
export class ScanFailed extends Error {
  readonly reason: ScanFailureReason;

  constructor(reason: ScanFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ScanFailed';
    this.reason = reason;
  }
}

export interface Scanner {
  readonly name: 'clamd' | 'none';
  /** Reads the whole stream (to its end) and says what it is. Rejects with ScanFailed on any failure. */
  scan(body: Readable): Promise<ScanVerdict>;
  /** For /health: is the scanner answering (clamd PING → PONG)? never throws. */
  check(): Promise<{ ok: boolean; detail?: string }>;
}

/**
 * For deployments without a scanner. It still reads the stream to its end, so callers can treat
 * every scanner alike (the upload pipeline relies on the scan consuming the body).
 */
export function createNoScanner(): Scanner {
  return {
    name: 'none',
    async scan(body: Readable): Promise<ScanVerdict> {
      try {
        for await (const _chunk of body) {
          // Discard: nothing inspects the bytes.
        }
      } catch (error) {
        throw new ScanFailed('error', 'The file could not be read to its end', { cause: error });
      }
      return { outcome: 'unscanned', engine: 'none' };
    },
    async check() {
      return { ok: true, detail: 'no scanner configured: files are not scanned' };
    },
  };
}

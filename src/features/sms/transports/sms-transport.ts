// One interface for every way a text leaves Dovecote. The worker only knows this: send, and one of three
// kinds of failure. A transport never logs the number, the personalisation or the rendered text.
import type { SmsKind } from '../sms-texts.ts';

export interface SmsSendRequest {
  kind: SmsKind;
  phoneE164: string;
  personalisation: Record<string, string>;
  /** The outbox id: GOV.UK Notify's `reference`, so a delivery receipt finds its row again. */
  reference: string;
}

export interface SmsSendResult {
  /** The provider's id for the text (Notify's notification id), kept for support and receipts. */
  providerId: string;
}

export interface SmsTransport {
  readonly name: 'development' | 'notify';
  send(request: SmsSendRequest): Promise<SmsSendResult>;
}

/**
 * The provider refused the text and asking again will not help: the number cannot receive texts. The
 * outbox row is marked permanent_failure and the job is not retried.
 */
export class PermanentSmsError extends Error {
  override name = 'PermanentSmsError';
  /** Short and safe to show to staff: never the phone number, code or link. */
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

/**
 * The text may go through later: the provider is down (5xx), slow (timeout), unreachable, or asks us
 * to slow down (429). retryAfterSeconds is the provider's Retry-After when it sent one.
 */
export class RetryableSmsError extends Error {
  override name = 'RetryableSmsError';
  readonly reason: string;
  readonly retryAfterSeconds: number | undefined;
  /** The provider said we are sending too fast (429), with or without a Retry-After. */
  readonly rateLimited: boolean;
  constructor(reason: string, options: { retryAfterSeconds?: number; rateLimited?: boolean } = {}) {
    super(reason);
    this.reason = reason;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.rateLimited = options.rateLimited ?? options.retryAfterSeconds !== undefined;
  }
}

export type ProviderProblem = 'authentication' | 'configuration';

/**
 * The provider refused our own set-up, not the text: the API key is wrong, revoked or for a team only,
 * the server clock is off, the template is unknown. The patient's number is not at fault, so marking
 * the text failed would tell staff the wrong thing and lose a text that will go once operators fix the
 * key or the template. The worker keeps the row queued, says so once in the logs and tries again
 * later, for as long as it takes.
 */
export class ProviderConfigurationSmsError extends Error {
  override name = 'ProviderConfigurationSmsError';
  readonly problem: ProviderProblem;
  /** Short and safe for logs and staff: never the phone number, code or link. */
  readonly reason: string;
  constructor(problem: ProviderProblem, reason: string) {
    super(reason);
    this.problem = problem;
    this.reason = reason;
  }
}

/**
 * Provider messages can quote what was sent; keep them short and remove anything that looks like a
 * phone number or a code before they reach a database column that staff see.
 */
export function safeReason(text: string): string {
  return text
    .replace(/\+?\d[\d\s-]{4,}\d/g, '[number]')
    .replace(/https?:\/\/\S+/g, '[link]')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
}

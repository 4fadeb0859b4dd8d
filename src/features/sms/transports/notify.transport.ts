// GOV.UK Notify through the official client. The client speaks axios; we hand it an axios instance
// with a hard deadline per request, so a provider that hangs cannot hold a worker slot for ever, and
// turn its errors into the three kinds the worker understands.
import { createRequire } from 'node:module';
// The types as the Notify client (CommonJS) sees them.
import type { AxiosError, AxiosInstance, AxiosStatic } from 'axios' with { 'resolution-mode': 'require' };
import { NotifyClient } from 'notifications-node-client';
import { renderSms } from '../sms-texts.ts';
import {
  PermanentSmsError,
  ProviderConfigurationSmsError,
  RetryableSmsError,
  safeReason,
  type SmsSendRequest,
  type SmsSendResult,
  type SmsTransport,
} from './sms-transport.ts';

export const NOTIFY_REQUEST_TIMEOUT_MS = 10_000;

export interface NotifyTransportOptions {
  apiKey: string;
  baseUrl: string;
  /** The one Notify template: its whole content is `((message))`. */
  templateId: string;
  /** Whole-request deadline (connect, send, wait for the answer). */
  timeoutMs?: number;
}

// The same axios the Notify client depends on (not a dependency of ours), so its instance type fits.
const requireFromNotify = createRequire(createRequire(import.meta.url).resolve('notifications-node-client'));
const axios = requireFromNotify('axios') as AxiosStatic;

function httpClient(timeoutMs: number): AxiosInstance {
  const instance = axios.create({ timeout: timeoutMs, maxRedirects: 0 });
  // axios' `timeout` is a socket inactivity timer; the signal caps the request as a whole.
  instance.interceptors.request.use((config) => {
    config.signal = AbortSignal.timeout(timeoutMs);
    return config;
  });
  return instance;
}

/** Retry-After is either delta-seconds or an HTTP date. Capped at a day; undefined when absent or odd. */
export function parseRetryAfter(value: unknown, nowMs = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const v = value.trim();
  let seconds: number;
  if (/^\d+$/.test(v)) seconds = Number(v);
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    seconds = Math.ceil((at - nowMs) / 1000);
  }
  return Math.min(Math.max(seconds, 0), 86_400);
}

interface NotifyErrorBody {
  status_code?: number;
  errors?: Array<{ error?: string; message?: string }>;
}

// Notify's 400s that are about our set-up rather than the recipient (from its documented error list):
// "Template not found", "template_id is not a valid UUID", "Missing personalisation: message" (the
// template is not the one-placeholder template README.md describes), "Can't send to this recipient
// using a team-only API key" or "... when service is in trial mode" (a test or trial key in live use),
// "Service is not allowed to send text messages". A bad number ("phone_number Not a UK mobile number")
// matches none of these.
const CONFIGURATION_400 = /template|personalisation|team-only|trial mode|not allowed to send/i;

/** Turn whatever the client threw into one of the transport's three errors. Exported for tests. */
export function classifyNotifyError(error: unknown): PermanentSmsError | RetryableSmsError | ProviderConfigurationSmsError {
  const axiosError = error as Partial<AxiosError<NotifyErrorBody>>;
  if (!axiosError || axiosError.isAxiosError !== true) {
    // The client rejects before sending only for programming mistakes (unknown option names).
    return new PermanentSmsError(safeReason(`Notify client error: ${(error as Error)?.message ?? 'unknown'}`));
  }
  const response = axiosError.response;
  if (!response) {
    // Timeout, abort, DNS, refused or reset connection: nothing was answered, so try again.
    const code = axiosError.code ?? 'network error';
    return new RetryableSmsError(`Notify did not answer (${code === 'ERR_CANCELED' ? 'timeout' : code})`);
  }
  const status = response.status;
  const first = response.data?.errors?.[0];
  const detail = first ? `${first.error ?? 'Error'}: ${first.message ?? ''}` : 'no detail';
  const reason = safeReason(`Notify ${status} ${detail}`);
  if (status === 429) {
    const header = response.headers?.['retry-after'] as unknown;
    return new RetryableSmsError(reason, { retryAfterSeconds: parseRetryAfter(header), rateLimited: true });
  }
  if (status >= 500 || status === 408 || status === 409 || status === 425) return new RetryableSmsError(reason);
  // 401/403: the key or its token was refused (wrong or revoked key, server clock more than 30 s off).
  if (status === 401 || status === 403) return new ProviderConfigurationSmsError('authentication', reason);
  // 404: no such endpoint, so NOTIFY_BASE_URL is wrong.
  if (status === 404) return new ProviderConfigurationSmsError('configuration', reason);
  const messages = (response.data?.errors ?? []).map((e) => `${e.error ?? ''}: ${e.message ?? ''}`);
  if (status === 400 && messages.some((m) => CONFIGURATION_400.test(m))) return new ProviderConfigurationSmsError('configuration', reason);
  // Other 400s (the number cannot receive texts) and other 4xx: asking again will not help.
  return new PermanentSmsError(reason);
}

export function createNotifyTransport(options: NotifyTransportOptions): SmsTransport {
  const client = new NotifyClient(options.baseUrl, options.apiKey);
  client.setClient(httpClient(options.timeoutMs ?? NOTIFY_REQUEST_TIMEOUT_MS));
  return {
    name: 'notify',
    async send(request: SmsSendRequest): Promise<SmsSendResult> {
      try {
        // Dovecote's own words, rendered whole (sms-texts.ts): the template only carries them.
        const response = await client.sendSms(options.templateId, request.phoneE164, {
          personalisation: { message: renderSms(request.kind, request.personalisation) },
          reference: request.reference,
        });
        return { providerId: String(response.data?.id ?? '') };
      } catch (error) {
        throw classifyNotifyError(error);
      }
    },
  };
}

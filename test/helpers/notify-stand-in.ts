// A local stand-in for GOV.UK Notify's SMS API, so the Notify transport is tested with the official
// client over real HTTP. It checks the bearer JWT as Notify does (HS256; iss = the key's service id;
// signed with the key's secret; iat within 30 seconds), validates the body, records what it accepted,
// answers with Notify's 201 shape, and can be told to misbehave: 500, 429 (with or without
// Retry-After), a hang, or a 400 for one phone number.
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** `<key name>-<36-char service id>-<36-char secret>`, the shape of a Notify API key. */
export function makeNotifyApiKey(opts: { name?: string; serviceId?: string; secret?: string } = {}): string {
  return `${opts.name ?? 'dovecote_test'}-${opts.serviceId ?? randomUUID()}-${opts.secret ?? randomUUID()}`;
}

export function parseNotifyApiKey(apiKey: string): { serviceId: string; secret: string } {
  return { serviceId: apiKey.slice(-73, -37), secret: apiKey.slice(-36) };
}

/**
 * The template the stand-in knows: as the README tells operators to set it up in Notify, its whole
 * content is one placeholder, and Dovecote sends each text already worded.
 */
export const STAND_IN_TEMPLATE_ID = '11111111-1111-4111-8111-111111111111';
export const STAND_IN_TEMPLATE_CONTENT = '((message))';

export interface ReceivedSms {
  id: string;
  templateId: string;
  phoneNumber: string;
  personalisation: Record<string, string>;
  reference: string | undefined;
  body: string;
}

export type NotifyFault =
  | { kind: 'status'; status: 500 | 502 | 503 }
  | { kind: 'rate-limit'; retryAfter?: string }
  | { kind: 'hang' };

export interface NotifyStandIn {
  baseUrl: string;
  /** A key the stand-in accepts. */
  apiKey: string;
  /** Every text accepted (201), in order. */
  received: ReceivedSms[];
  /** Every request that reached the SMS endpoint, whatever the answer; `at` is performance.now() when its body had arrived. */
  requests: Array<{ status: number; reference?: string; at: number }>;
  byReference(reference: string): ReceivedSms[];
  /** Answer the next `times` requests with this fault instead of handling them. */
  failNext(fault: NotifyFault, times?: number): void;
  /** Answer 400 (ValidationError) for every text to this number. */
  rejectNumber(phoneNumber: string): void;
  /** Resolves when `count` texts have been accepted (or rejects after timeoutMs). */
  waitForReceived(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

function b64urlJson(part: string): Record<string, unknown> | null {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Notify's checks on the bearer token. Returns the failure message, or null when the token is good. */
export function checkNotifyJwt(authorization: string | undefined, keys: Map<string, string>, nowSeconds: number): string | null {
  const match = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(authorization ?? '');
  if (!match) return 'Unauthorized: authentication token must be provided';
  const [, h, p, s] = match as unknown as [string, string, string, string];
  const header = b64urlJson(h);
  const claims = b64urlJson(p);
  if (!header || !claims) return 'Invalid token: signature, api token is not valid';
  if (header.alg !== 'HS256' || (header.typ !== undefined && header.typ !== 'JWT')) return 'Invalid token: algorithm used is not HS256';
  const iss = claims.iss;
  if (typeof iss !== 'string') return 'Invalid token: iss field not provided';
  const secret = keys.get(iss);
  if (!secret) return 'Invalid token: service not found';
  const expected = createHmac('sha256', secret).update(`${h}.${p}`).digest();
  const given = Buffer.from(s, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return 'Invalid token: API key not found';
  }
  const iat = claims.iat;
  if (typeof iat !== 'number') return 'Invalid token: iat field not provided';
  if (Math.abs(nowSeconds - iat) > 30) return 'Error: Your system clock must be accurate to within 30 seconds';
  return null;
}

function render(template: string, personalisation: Record<string, string>): { body: string; missing: string[] } {
  const missing: string[] = [];
  const body = template.replace(/\(\(([a-z_]+)\)\)/g, (_, key: string) => {
    if (!(key in personalisation)) missing.push(key);
    return personalisation[key] ?? '';
  });
  return { body, missing };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startNotifyStandIn(opts: { apiKeys?: string[] } = {}): Promise<NotifyStandIn> {
  const apiKey = opts.apiKeys?.[0] ?? makeNotifyApiKey();
  const keys = new Map((opts.apiKeys ?? [apiKey]).map((k) => [parseNotifyApiKey(k).serviceId, parseNotifyApiKey(k).secret]));
  const templates = new Map<string, string>([[STAND_IN_TEMPLATE_ID, STAND_IN_TEMPLATE_CONTENT]]);
  const received: ReceivedSms[] = [];
  const requests: NotifyStandIn['requests'] = [];
  const faults: NotifyFault[] = [];
  const rejected = new Set<string>();
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  let baseUrl = '';

  const answer = (response: ServerResponse, status: number, body: object, headers: Record<string, string> = {}) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  };
  const error = (response: ServerResponse, status: number, name: string, message: string, headers?: Record<string, string>) =>
    answer(response, status, { status_code: status, errors: [{ error: name, message }] }, headers);

  const server = createServer(async (request, response) => {
    if (request.method !== 'POST' || request.url !== '/v2/notifications/sms') {
      error(response, 404, 'NotFoundError', 'Not found');
      return;
    }
    const raw = await readBody(request);
    const at = performance.now();
    let reference: string | undefined;
    const record = (status: number) => requests.push({ status, reference, at });
    try {
      reference = (JSON.parse(raw) as { reference?: string }).reference;
    } catch {
      // reported below
    }

    const fault = faults.shift();
    if (fault) {
      if (fault.kind === 'hang') {
        record(0);
        return; // never answers; the client's timeout has to end it
      }
      if (fault.kind === 'status') {
        record(fault.status);
        error(response, fault.status, 'Exception', 'Internal server error');
        return;
      }
      record(429);
      error(response, 429, 'RateLimitError', 'Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds', fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
      return;
    }

    const authProblem = checkNotifyJwt(request.headers.authorization, keys, Math.floor(Date.now() / 1000));
    if (authProblem) {
      record(403);
      error(response, 403, 'AuthError', authProblem);
      return;
    }

    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      record(400);
      error(response, 400, 'BadRequestError', 'Invalid JSON supplied in POST data');
      return;
    }
    const problems: string[] = [];
    const templateId = body.template_id;
    const phoneNumber = body.phone_number;
    const personalisation = (body.personalisation ?? {}) as Record<string, string>;
    if (typeof templateId !== 'string') problems.push('template_id is a required property');
    if (typeof phoneNumber !== 'string') problems.push('phone_number is a required property');
    else if (!/^(\+44|0044|0)7\d{9}$/.test(phoneNumber.replace(/[\s()-]/g, ''))) problems.push('phone_number Not a UK mobile number');
    if (typeof personalisation !== 'object' || Array.isArray(personalisation)) problems.push('personalisation must be an object');
    if (body.reference !== undefined && (typeof body.reference !== 'string' || body.reference.length > 1000)) problems.push('reference must be a string of at most 1000 characters');
    const known = new Set(['template_id', 'phone_number', 'personalisation', 'reference', 'sms_sender_id']);
    for (const key of Object.keys(body)) if (!known.has(key)) problems.push(`Additional properties are not allowed (${key} was unexpected)`);
    if (problems.length > 0) {
      record(400);
      answer(response, 400, { status_code: 400, errors: problems.map((message) => ({ error: 'ValidationError', message })) });
      return;
    }
    const template = templates.get(templateId as string);
    if (!template) {
      record(400);
      error(response, 400, 'BadRequestError', 'Template not found');
      return;
    }
    if (rejected.has(phoneNumber as string)) {
      record(400);
      error(response, 400, 'ValidationError', 'phone_number Not a UK mobile number');
      return;
    }
    const { body: text, missing } = render(template, personalisation);
    if (missing.length > 0) {
      record(400);
      error(response, 400, 'BadRequestError', `Missing personalisation: ${missing.join(', ')}`);
      return;
    }
    const id = randomUUID();
    received.push({ id, templateId: templateId as string, phoneNumber: phoneNumber as string, personalisation, reference, body: text });
    record(201);
    for (const waiter of [...waiters]) {
      if (received.length >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
    answer(response, 201, {
      id,
      reference: reference ?? null,
      content: { body: text, from_number: 'GOVUK' },
      uri: `${baseUrl}/v2/notifications/${id}`,
      template: { id: templateId, version: 1, uri: `${baseUrl}/services/${[...keys.keys()][0]}/templates/${templateId}` },
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl,
    apiKey,
    received,
    requests,
    byReference: (reference) => received.filter((r) => r.reference === reference),
    failNext(fault, times = 1) {
      for (let i = 0; i < times; i++) faults.push(fault);
    },
    rejectNumber(phoneNumber) {
      rejected.add(phoneNumber);
    },
    waitForReceived(count, timeoutMs = 20_000) {
      if (received.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`stand-in received ${received.length} of ${count} texts`)), timeoutMs);
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The config a test app needs to send through this stand-in. */
export function notifyConfigFor(standIn: NotifyStandIn, apiKey = standIn.apiKey): Record<string, string> {
  return {
    SMS_PROVIDER: 'notify',
    NOTIFY_API_KEY: apiKey,
    NOTIFY_BASE_URL: standIn.baseUrl,
    NOTIFY_TEMPLATE_ID: STAND_IN_TEMPLATE_ID,
    NOTIFY_CALLBACK_TOKEN: 'test-notify-callback-token-0123456789',
  };
}

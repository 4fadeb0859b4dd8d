// The Idempotency-Key header's HTTP side (the rules: api-idempotency.service.ts). A route opts in with
// `preHandler: idempotent` (JSON bodies: the key is claimed before the handler runs), or, when the body
// is only known inside the handler (POST /documents streams its file), validates the header with
// `checkIdempotencyKey` and calls `claimIdempotency` once it has the body's fingerprint. One onSend hook
// then stores whatever the handler or the error handler sent, or gives the key up.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  claimIdempotencyKey,
  finishIdempotencyKey,
  IDEMPOTENCY_KEY_HEADER,
  idempotencyKeyFrom,
  REPLAYED_HEADERS,
  requestFingerprint,
  type IdempotencyClaim,
  type StoredResponse,
} from './api-idempotency.service.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The Idempotency-Key this request holds, until its response is stored. */
    apiIdempotencyClaim: IdempotencyClaim | null;
  }
}

export const REPLAYED_HEADER = 'Idempotent-Replayed';

const keyOf = (request: FastifyRequest) => idempotencyKeyFrom(request.headers[IDEMPOTENCY_KEY_HEADER.toLowerCase()]);

/** Answers with a key's first response, marked as a replay. */
export function sendReplay(reply: FastifyReply, stored: StoredResponse): FastifyReply {
  reply.status(stored.status);
  for (const [name, value] of Object.entries(stored.headers)) reply.header(name, value);
  return reply.header(REPLAYED_HEADER, 'true').send(stored.body);
}

/**
 * Claims the request's key for `body` (what makes two requests the same, with the method and route).
 * Returns the key's first response when there is one to replay (the caller sends it with sendReplay and
 * does nothing more), or null to go on: no header, or the key is now this request's. Throws
 * IdempotencyKeyReused (422) or IdempotencyKeyInProgress (409).
 */
export async function claimIdempotency(request: FastifyRequest, body: unknown): Promise<StoredResponse | null> {
  const idempotencyKey = keyOf(request);
  if (idempotencyKey === null) return null;
  const principal = request.apiPrincipal!;
  const fingerprint = requestFingerprint(request.method, request.routeOptions.url ?? request.url, body);
  const result = await claimIdempotencyKey(request.server.services, { apiKeyId: principal.apiKeyId, idempotencyKey }, fingerprint);
  if ('replay' in result) return result.replay;
  request.apiIdempotencyClaim = result.claim;
  return null;
}

/** preHandler for a JSON route that creates something. */
export async function idempotent(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const stored = await claimIdempotency(request, request.body);
  // Returning the reply (Fastify's rule for a hook that answers) waits until it is sent, and the handler
  // is then skipped; before that, reply.sent may still be false.
  if (stored) return sendReplay(reply, stored);
  return undefined;
}

/** preHandler for a route that claims later: a malformed key is refused before the body is read. */
export async function checkIdempotencyKey(request: FastifyRequest): Promise<void> {
  keyOf(request);
}

function payloadText(payload: unknown): string | null {
  if (typeof payload === 'string') return payload;
  if (Buffer.isBuffer(payload)) return payload.toString('utf8');
  if (payload === null || payload === undefined) return '';
  return null; // a stream: nothing to keep, so the key is given up
}

/** Call once in the scope holding the creating routes (before registering child scopes). */
export function registerApiIdempotency(app: FastifyInstance): void {
  app.decorateRequest('apiIdempotencyClaim', null);
  app.addHook('onSend', async (request, reply, payload) => {
    const claim = request.apiIdempotencyClaim;
    if (!claim) return payload;
    request.apiIdempotencyClaim = null;
    const body = payloadText(payload);
    const headers: Record<string, string> = {};
    for (const name of REPLAYED_HEADERS) {
      const value = reply.getHeader(name);
      if (value !== undefined) headers[name] = String(value);
    }
    try {
      await finishIdempotencyKey(request.server.services, claim, body === null ? null : { status: reply.statusCode, headers, body });
    } catch (error) {
      // The response itself is good: send it. The claim stays in progress until its lock runs out, and
      // then a retry with the key is handled afresh (the window api-idempotency.service.ts describes).
      // Through the logger's err serializer (safeError): a failed query's message carries its
      // parameters, here the stored response body (a document's title).
      request.log.error({ err: error }, 'could not store an Idempotency-Key response');
    }
    return payload;
  });
}

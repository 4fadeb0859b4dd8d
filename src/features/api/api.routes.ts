// The integrators' JSON API (HTTP only) and its OpenAPI description. Registered under /api.
//
// - Bodies are JSON only: this plugin replaces the inherited parsers (form posts, text) with the JSON
//   parser, so a browser form aimed at the API is refused with 415 before anything runs. The one
//   exception is POST /api/v1/documents, whose own scope also takes multipart/form-data (a PDF,
//   streamed: the fields first, then the file).
// - Every error leaves as an RFC 9457 problem document from this plugin's own error handler, in one
//   shape (type, title, status, detail and, for 400, errors[] naming each field).
// - Authentication is an API key in the Authorization header, never a cookie, so CSRF does not apply
//   (config.skipCsrf).
// - Every POST that creates something takes an optional Idempotency-Key (api-idempotency.ts): the same
//   key and body again within 24 hours gets the first response and sends nothing twice.
// - The docs page is swagger-ui served entirely from 'self' (its scripts and styles are files), so it
//   runs under the service's strict Content-Security-Policy unchanged.
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '../../platform/db/unavailable.ts';
import path from 'node:path';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { acceptMultipart, drainPart, multipartParts, type MultipartPart } from '../../platform/http/multipart.ts';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { ZodError, type z } from 'zod';
import { AppError, httpStatusOf } from '../../platform/http/errors.ts';
import { DomainError, NotFound, RateLimited } from '../../platform/errors.ts';
import { DailySendLimitReached } from '../conversations/send-limits.ts';
import {
  bookingInvitationCreateBody,
  bookingSlotsQuery,
  bookingsQuery,
  buildOpenApiDocument,
  documentCreateFields,
  documentPathParams,
  fieldErrorsFrom,
  messageCreateBody,
  messagePathParams,
  patientPathParams,
  patientPutBody,
  questionnairePathParams,
  questionnaireRequestCreateBody,
  questionnaireRequestPathParams,
  type FieldError,
  type Problem,
} from './api.schemas.ts';
import { checkIdempotencyKey, claimIdempotency, idempotent, registerApiIdempotency, sendReplay } from './api-idempotency.ts';
import { IdempotencyKeyInProgress, IdempotencyKeyReused } from './api-idempotency.service.ts';
import { QUESTIONNAIRE_NOT_FOUND, QuestionnaireRefused } from '../questionnaires/questionnaires.service.ts';
import { UnknownQuestionnaire } from '../questionnaires/questionnaire-sending.service.ts';
import {
  addApiQuestionnaire,
  ApiFieldInvalid,
  ApiFileUnchecked,
  discardApiDocument,
  DOCUMENT_NOT_FOUND,
  getApiDocument,
  sendApiDocument,
  takeApiDocument,
  ApiUnauthorisedError,
  authenticateApiRequest,
  getApiMessage,
  getApiQuestionnaire,
  getApiQuestionnaireResponse,
  getApiBookingInvitation,
  findApiPatient,
  listApiAppointmentTypes,
  listApiBookings,
  listApiBookingSlots,
  listApiQuestionnaires,
  MESSAGE_NOT_FOUND,
  putPatient,
  QUESTIONNAIRE_REQUEST_NOT_FOUND,
  sendApiBookingInvitation,
  sendApiMessage,
  sendApiQuestionnaire,
  type ApiPrincipal,
} from './api.service.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the API's authentication hook on /api/v1 routes. */
    apiPrincipal: ApiPrincipal | null;
  }
}

const API_BODY_LIMIT = 64 * 1024;
// A published questionnaire, with its answer lists and texts, can be far bigger than any other body.
const QUESTIONNAIRE_BODY_LIMIT = 1024 * 1024;
const QUESTIONNAIRES_URL = '/api/v1/questionnaires';

const bodyLimitOf = (request: FastifyRequest) => (request.routeOptions.url === QUESTIONNAIRES_URL ? QUESTIONNAIRE_BODY_LIMIT : API_BODY_LIMIT);
const inKb = (bytes: number) => (bytes >= 1024 * 1024 ? `${bytes / 1024 / 1024} MB` : `${bytes / 1024} KB`);

// swagger-ui's page: a stylesheet for colour contrast, and a script that names the "Servers" list.
const docsTheme = (file: string) => readFileSync(path.join(import.meta.dirname, 'docs-theme', file), 'utf8');

/** Bad input: a 400 that names every wrong field. */
export class ApiValidationError extends AppError {
  readonly errors: FieldError[];
  constructor(errors: FieldError[], detail = 'The request is not valid. Each entry in errors names a field and what is wrong with it.') {
    super(400, detail);
    this.name = 'ApiValidationError';
    this.errors = errors;
  }
}

/** Validates several parts of a request at once, so one 400 lists every wrong field. */
function validate<P extends z.ZodType, B extends z.ZodType>(
  params: [P, unknown],
  body: [B, unknown],
): { params: z.output<P>; body: z.output<B> } {
  const p = params[0].safeParse(params[1]);
  const b = body[0].safeParse(body[1]);
  if (p.success && b.success) return { params: p.data, body: b.data };
  const errors = [...(p.success ? [] : fieldErrorsFrom(p.error, params[1])), ...(b.success ? [] : fieldErrorsFrom(b.error, body[1]))];
  throw new ApiValidationError(errors);
}

function sendProblem(reply: FastifyReply, status: number, detail: string, extra: Partial<Problem> = {}): FastifyReply {
  const body: Problem = { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, ...extra };
  return reply.status(status).type('application/problem+json').send(body);
}

const BODY_ERRORS: Record<string, { status: number; detail: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, detail: 'Send the request body as JSON, with Content-Type: application/json.' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, detail: `The request body must be ${inKb(API_BODY_LIMIT)} or smaller.` },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, detail: 'The request body is empty. Send a JSON object.' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, detail: 'The request body is not valid JSON.' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, detail: 'The Content-Length header does not match the body.' },
};

function apiErrorHandler(error: FastifyError | AppError | DomainError | ZodError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof ApiValidationError) {
    request.log.info({ status: 400, fields: error.errors.map((e) => e.field) }, 'API request refused');
    return sendProblem(reply, 400, error.publicMessage, { errors: error.errors });
  }
  if (error instanceof ZodError) {
    // A service re-checked input the route should already have refused; still the caller's fault.
    return sendProblem(reply, 400, 'The request is not valid.', { errors: fieldErrorsFrom(error, request.body) });
  }
  if (error instanceof DomainError) {
    if (error instanceof ApiUnauthorisedError) {
      reply.header('WWW-Authenticate', request.headers.authorization ? 'Bearer error="invalid_token"' : 'Bearer');
    }
    if (error instanceof RateLimited) reply.header('Retry-After', String(error.retryAfterSeconds));
    if (error instanceof IdempotencyKeyReused) {
      request.log.info({ status: 422 }, 'API request refused: Idempotency-Key used with another request');
      return sendProblem(reply, 422, error.publicMessage);
    }
    if (error instanceof IdempotencyKeyInProgress) {
      request.log.info({ status: 409 }, 'API request refused: Idempotency-Key in progress');
      reply.header('Retry-After', String(error.retryAfterSeconds));
      return sendProblem(reply, 409, error.publicMessage);
    }
    if (error instanceof QuestionnaireRefused) {
      request.log.info({ status: 400, problems: error.problems.length }, 'API request refused: questionnaire');
      return sendProblem(reply, 400, error.publicMessage, { problems: error.problems });
    }
    if (error instanceof UnknownQuestionnaire) {
      // Bad input like any other: the 400 names the field, so a client handles it with the rest.
      request.log.info({ status: 400, fields: ['questionnaire'] }, 'API request refused: unknown questionnaire');
      return sendProblem(reply, 400, error.publicMessage, { errors: [{ field: 'questionnaire', message: error.publicMessage }] });
    }
    if (error instanceof ApiFieldInvalid) {
      // An id that is well formed but names nothing of the caller's: a 400 naming the field, like the rest.
      request.log.info({ status: 400, fields: [error.field] }, 'API request refused');
      return sendProblem(reply, 400, error.publicMessage, { errors: [{ field: error.field, message: error.publicMessage }] });
    }
    if (error instanceof ApiFileUnchecked) {
      // Temporary, like a database restart: the same request should work once the scanner answers.
      request.log.warn({ status: 503 }, 'API request refused: the file could not be scanned');
      reply.header('Retry-After', String(error.retryAfterSeconds));
      return sendProblem(reply, 503, error.publicMessage, { errors: [{ field: 'file', message: error.publicMessage }] });
    }
    if (error instanceof DailySendLimitReached) {
      request.log.info({ status: 429 }, 'API request refused: daily send limit');
      return sendProblem(reply, 429, error.publicMessage, { limit: error.limit, resetsAt: error.resetsAt.toISOString() });
    }
    const status = httpStatusOf(error);
    if (status >= 500) {
      request.log.error({ err: error }, 'API request failed');
      return sendProblem(reply, 500, 'Sorry, there is a problem with the service. Try again later.');
    }
    request.log.info({ status }, 'API request refused');
    return sendProblem(reply, status, error.publicMessage);
  }
  if (error instanceof AppError) {
    if (error.status >= 500) {
      request.log.error({ err: error }, 'API request failed');
      return sendProblem(reply, 500, 'Sorry, there is a problem with the service. Try again later.');
    }
    request.log.info({ status: error.status }, 'API request refused');
    return sendProblem(reply, error.status, error.publicMessage);
  }
  const code = (error as FastifyError).code;
  const known = code ? BODY_ERRORS[code] : undefined;
  const statusCode = (error as FastifyError).statusCode;
  if (known) {
    request.log.info({ errCode: code, status: known.status }, 'API request refused');
    const detail = code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `The request body must be ${inKb(bodyLimitOf(request))} or smaller.` : known.detail;
    const errors = known.status === 400 ? { errors: [{ field: '(body)', message: detail }] } : {};
    return sendProblem(reply, known.status, detail, errors);
  }
  if (error instanceof SyntaxError && statusCode === 400) {
    return sendProblem(reply, 400, BODY_ERRORS.FST_ERR_CTP_INVALID_JSON_BODY!.detail, {
      errors: [{ field: '(body)', message: BODY_ERRORS.FST_ERR_CTP_INVALID_JSON_BODY!.detail }],
    });
  }
  if (statusCode && statusCode >= 400 && statusCode < 500) {
    request.log.info({ errCode: code, status: statusCode }, 'API request refused');
    return sendProblem(reply, statusCode, 'The request could not be handled.');
  }
  if (isDatabaseUnavailable(error)) {
    // Temporary: a client should send the same request again after a while (see platform/db/unavailable.ts).
    request.log.warn({ errName: error.name }, 'database unavailable; answered 503');
    reply.header('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
    return sendProblem(reply, 503, 'The service is briefly unavailable. Try again in a few seconds.');
  }
  request.log.error({ err: error }, 'API request failed');
  return sendProblem(reply, 500, 'Sorry, there is a problem with the service. Try again later.');
}

async function v1Routes(app: FastifyInstance) {
  app.decorateRequest('apiPrincipal', null);
  app.addHook('onRequest', async (request) => {
    request.apiPrincipal = await authenticateApiRequest(app.services, request.headers.authorization, request.ip);
  });
  // Idempotency-Key on the POSTs that create something (api-idempotency.ts); PUT is idempotent already.
  registerApiIdempotency(app);

  app.put('/patients/:nhsNumber', { config: { skipCsrf: true } }, async (request, reply) => {
    const input = validate([patientPathParams, request.params], [patientPutBody, request.body]);
    const result = await putPatient(app.services, request.apiPrincipal!, input.params.nhsNumber, input.body);
    return reply.status(result.created ? 201 : 200).send(result.patient);
  });

  app.post('/messages', { config: { skipCsrf: true }, preHandler: idempotent }, async (request, reply) => {
    const body = messageCreateBody.safeParse(request.body);
    if (!body.success) throw new ApiValidationError(fieldErrorsFrom(body.error, request.body));
    const created = await sendApiMessage(app.services, request.apiPrincipal!, body.data);
    return reply.status(201).header('Location', `/api/v1/messages/${created.id}`).send(created);
  });

  app.get('/messages/:id', { config: { skipCsrf: true } }, async (request, reply) => {
    const params = messagePathParams.safeParse(request.params);
    // A malformed id cannot name a message: the same 404 as an unknown one.
    if (!params.success) throw new NotFound(MESSAGE_NOT_FOUND);
    return reply.send(await getApiMessage(app.services, request.apiPrincipal!, params.data.id));
  });

  app.post('/questionnaire-requests', { config: { skipCsrf: true }, preHandler: idempotent }, async (request, reply) => {
    const body = questionnaireRequestCreateBody.safeParse(request.body);
    if (!body.success) throw new ApiValidationError(fieldErrorsFrom(body.error, request.body));
    return reply.status(201).send(await sendApiQuestionnaire(app.services, request.apiPrincipal!, body.data));
  });

  app.get('/questionnaire-requests/:id/response', { config: { skipCsrf: true } }, async (request, reply) => {
    const params = questionnaireRequestPathParams.safeParse(request.params);
    // A malformed id cannot name a questionnaire request: the same 404 as an unknown one.
    if (!params.success) throw new NotFound(QUESTIONNAIRE_REQUEST_NOT_FOUND);
    const response = await getApiQuestionnaireResponse(app.services, request.apiPrincipal!, params.data.id);
    return reply.type('application/fhir+json; charset=utf-8').send(response);
  });

  // Booking. Queries are checked as strictly as bodies: an unknown parameter is refused, not ignored.
  app.get('/appointment-types', { config: { skipCsrf: true } }, async (request, reply) => {
    return reply.send(await listApiAppointmentTypes(app.services, request.apiPrincipal!));
  });

  app.get('/booking-slots', { config: { skipCsrf: true } }, async (request, reply) => {
    const query = bookingSlotsQuery.safeParse(request.query);
    if (!query.success) throw new ApiValidationError(fieldErrorsFrom(query.error, request.query));
    return reply.send(await listApiBookingSlots(app.services, request.apiPrincipal!, query.data));
  });

  app.post('/booking-invitations', { config: { skipCsrf: true }, preHandler: idempotent }, async (request, reply) => {
    const body = bookingInvitationCreateBody.safeParse(request.body);
    if (!body.success) throw new ApiValidationError(fieldErrorsFrom(body.error, request.body));
    const created = await sendApiBookingInvitation(app.services, request.apiPrincipal!, body.data);
    return reply.status(201).header('Location', `/api/v1/booking-invitations/${created.id}`).send(created);
  });

  app.get('/booking-invitations/:id', { config: { skipCsrf: true } }, async (request, reply) => {
    const { id } = request.params as { id: string };
    return reply.send(await getApiBookingInvitation(app.services, request.apiPrincipal!, id));
  });

  app.get('/bookings', { config: { skipCsrf: true } }, async (request, reply) => {
    const query = bookingsQuery.safeParse(request.query);
    if (!query.success) throw new ApiValidationError(fieldErrorsFrom(query.error, request.query));
    return reply.send(await listApiBookings(app.services, request.apiPrincipal!, query.data));
  });

  await app.register(questionnaireRoutes);
  await app.register(documentRoutes);
}

const FILE_LAST = 'Send the fields nhsNumber, title and note first, then the PDF as the part named file (the last part).';
const NOT_MULTIPART = 'Send the document as multipart/form-data: the fields nhsNumber, title and note, then the PDF as the part named file. A JSON body cannot carry the file.';
const NO_FILE = 'Send the PDF as a part named file, after the fields.';
const TOO_MANY_PARTS = 'The body has too many parts: send the fields nhsNumber, title and note, then one file.';
// Three fields and one file; a second file is read only to be refused by name.
const DOCUMENT_PARTS = { files: 2, fields: 10 };

/** The body's parts could not be read (a broken or cut-short multipart body): the caller's fault. */
function unreadableBody(error: unknown): ApiValidationError {
  const words = error instanceof Error && error.message ? ` (${error.message})` : '';
  const detail = `The multipart/form-data body could not be read${words}.`;
  return new ApiValidationError([{ field: '(body)', message: detail }], detail);
}

async function documentRoutes(app: FastifyInstance) {
  // This scope's parsers: the API's JSON (so a JSON body hears what to send instead) and multipart,
  // left unread for the handler to stream.
  acceptMultipart(app);
  const services = app.services;

  app.post('/documents', { config: { skipCsrf: true }, preHandler: checkIdempotencyKey }, async (request, reply) => {
    const principal = request.apiPrincipal!;
    if (!request.isMultipart()) {
      // The fields are checked as in a multipart body (and the patient looked up), but there is no file.
      const body = documentCreateFields.safeParse(request.body);
      if (!body.success) throw new ApiValidationError([...fieldErrorsFrom(body.error, request.body), { field: 'file', message: NOT_MULTIPART }], NOT_MULTIPART);
      await findApiPatient(services, principal, body.data.nhsNumber);
      throw new ApiValidationError([{ field: 'file', message: NOT_MULTIPART }], NOT_MULTIPART);
    }

    const fields: Record<string, string> = {};
    let taken: Awaited<ReturnType<typeof takeApiDocument>> | undefined;
    let input: { title: string; note: string } | undefined;
    const parts = multipartParts(request, { files: DOCUMENT_PARTS.files, fileBytes: services.config.files.documentMaxBytes, fields: DOCUMENT_PARTS.fields });
    try {
      for (;;) {
        let next: IteratorResult<MultipartPart>;
        try {
          next = await parts.next();
        } catch (error) {
          // Past the parts' limits (many fields or files): too much, whatever it is.
          if ((error as FastifyError).statusCode === 413) throw new AppError(413, TOO_MANY_PARTS);
          throw unreadableBody(error);
        }
        if (next.done) break;
        const part = next.value;
        if (taken) {
          // Nothing may follow the file: the fields it was checked against are the ones sent.
          if (part.type === 'file') await drainPart(part.stream);
          const message = part.type === 'file' ? 'Send one file per request.' : FILE_LAST;
          throw new ApiValidationError([{ field: part.name, message }], FILE_LAST);
        }
        if (part.type === 'field') {
          fields[part.name] = part.value;
          continue;
        }
        if (part.fileName === '' || part.name !== 'file') {
          await drainPart(part.stream);
          // An empty file input (no file chosen) is no file; a file under another name is refused by name.
          if (part.fileName === '') continue;
          throw new ApiValidationError([{ field: part.name, message: `This field is not allowed. ${NO_FILE}` }]);
        }
        // The file: the fields before it are all there are, so check them (and find the patient)
        // before a byte of it is read, and store nothing for a request that will be refused.
        const checked = documentCreateFields.safeParse(fields);
        if (!checked.success) {
          await drainPart(part.stream);
          const errors = fieldErrorsFrom(checked.error, fields);
          const detail = Object.keys(fields).length === 0
            ? `The file came before the fields. ${FILE_LAST}`
            : `The fields sent before the file are not valid; each entry in errors names one. ${FILE_LAST}`;
          throw new ApiValidationError(errors, detail);
        }
        let uploadBroke: unknown;
        part.stream.once('error', (error) => (uploadBroke = error));
        try {
          taken = await takeApiDocument(services, principal, { nhsNumber: checked.data.nhsNumber, file: { fileName: part.fileName, stream: part.stream } });
        } catch (error) {
          throw uploadBroke ? unreadableBody(uploadBroke) : error;
        } finally {
          await drainPart(part.stream);
        }
        input = { title: checked.data.title, note: checked.data.note ?? '' };
      }
    } catch (error) {
      if (taken) await discardApiDocument(services, principal, taken.file);
      throw error;
    }

    if (!taken || !input) {
      const checked = documentCreateFields.safeParse(fields);
      const errors = [...(checked.success ? [] : fieldErrorsFrom(checked.error, fields)), { field: 'file', message: NO_FILE }];
      throw new ApiValidationError(errors);
    }
    // The key is claimed only now that the request is known, file and all: the fields as sent and the
    // file's name and sha256. A replay (or a refusal) keeps nothing of this upload.
    const fingerprintBody = { fields, file: { name: taken.file.fileName, sha256: taken.file.sha256 } };
    let replay;
    try {
      replay = await claimIdempotency(request, fingerprintBody);
    } catch (error) {
      await discardApiDocument(services, principal, taken.file);
      throw error;
    }
    if (replay) {
      await discardApiDocument(services, principal, taken.file);
      return sendReplay(reply, replay);
    }
    const created = await sendApiDocument(services, principal, { patient: taken.patient, ...input, file: taken.file });
    return reply.status(201).header('Location', `/api/v1/documents/${created.id}`).send(created);
  });

  app.get('/documents/:id', { config: { skipCsrf: true } }, async (request, reply) => {
    const params = documentPathParams.safeParse(request.params);
    // A malformed id cannot name a document: the same 404 as an unknown one.
    if (!params.success) throw new NotFound(DOCUMENT_NOT_FOUND);
    return reply.send(await getApiDocument(services, request.apiPrincipal!, params.data.id));
  });
}

async function questionnaireRoutes(app: FastifyInstance) {
  // This plugin's own parsers: a larger limit, and FHIR's media type as well as plain JSON.
  app.removeAllContentTypeParsers();
  const json = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser(['application/json', 'application/fhir+json'], { parseAs: 'string', bodyLimit: QUESTIONNAIRE_BODY_LIMIT }, json);

  app.post('/questionnaires', { config: { skipCsrf: true }, preHandler: idempotent }, async (request, reply) => {
    // The body is checked in full by the questionnaire engine, which names every problem by linkId.
    const added = await addApiQuestionnaire(app.services, request.apiPrincipal!, request.body);
    const { id } = added.questionnaire;
    return reply.status(added.created ? 201 : 200).header('Location', `${QUESTIONNAIRES_URL}/${id}`).send(added.questionnaire);
  });

  app.get('/questionnaires', { config: { skipCsrf: true } }, async (request, reply) => {
    return reply.send(await listApiQuestionnaires(app.services, request.apiPrincipal!));
  });

  app.get('/questionnaires/:id', { config: { skipCsrf: true } }, async (request, reply) => {
    const params = questionnairePathParams.safeParse(request.params);
    if (!params.success) throw new NotFound(QUESTIONNAIRE_NOT_FOUND);
    const resource = await getApiQuestionnaire(app.services, request.apiPrincipal!, params.data.id);
    return reply.type('application/fhir+json; charset=utf-8').send(resource);
  });
}

async function docsRoutes(app: FastifyInstance) {
  const document = buildOpenApiDocument({
    serverUrl: app.services.config.publicBaseUrl,
    rateLimitPerMinute: app.services.config.apiRatePerMinute,
    documentMaxMb: app.services.config.files.documentMaxBytes / 1024 / 1024,
  });
  // swagger-ui's own files may be cached like the other static assets.
  app.addHook('onRoute', (route) => {
    if (route.url.includes('/docs/static/')) route.config = { ...route.config, cacheable: true };
  });
  await app.register(fastifySwagger, { mode: 'static', specification: { document: document as never } });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    // The page links its files by absolute path; tell it the prefix this plugin is registered under.
    indexPrefix: '/api',
    // staticCSP left unset: the service's own strict policy (script-src 'self', no inline) applies.
    // BaseLayout: no top bar (its logo and "Explore" box are not ours). Examples are highlighted with
    // monokai, whose colours meet 4.5:1 on its dark background (the default, agate, colours numbers
    // #d36363 on #333: 3.5:1).
    uiConfig: {
      layout: 'BaseLayout',
      deepLinking: false,
      tryItOutEnabled: false,
      defaultModelsExpandDepth: 1,
      syntaxHighlight: { theme: 'monokai' },
    },
    validatorUrl: false,
    // Our fixes for swagger-ui's own accessibility problems (docs/accessibility.md), as files from 'self'.
    theme: {
      title: 'API documentation – Dovecote',
      css: [{ filename: 'api-docs.css', content: docsTheme('api-docs.css') }],
      js: [{ filename: 'api-docs.js', content: docsTheme('api-docs.js') }],
    },
  });
  app.get('/openapi.json', async (_request, reply) => reply.type('application/json; charset=utf-8').send(document));
}

/** Register with `{ prefix: '/api' }`. */
export async function apiRoutes(app: FastifyInstance) {
  // JSON only (see the top of this file). Replacing the parsers here affects only /api routes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: API_BODY_LIMIT }, app.getDefaultJsonParser('error', 'error'));
  app.setErrorHandler(apiErrorHandler);
  app.setNotFoundHandler((_request, reply) => sendProblem(reply, 404, 'There is nothing at this address. See /api/docs.'));

  await app.register(v1Routes, { prefix: '/v1' });
  await app.register(docsRoutes);
}

// The conversation's patient pages, for both ways in: under /<token>/conversation (a link) and under
// /portal/conversations/<id> (the portal), each behind verification's guard for that way in. The page
// at the base path and every route below it belong to the conversation's item kind; this only finds
// the conversation and hands it to its kind. HTTP only.
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { patientAccessOf } from '../verification/patient-access.ts';
import { findConversation, listItems } from './conversations.repository.ts';
import type { KindHandler, KindRoute } from './item-kinds.ts';
import { conversationPaths } from './conversation-pages.ts';
import { readMultipartForm } from '../../platform/http/multipart.ts';

export interface ConversationRoutesOptions {
  /** Verification's guards: each sets request.patientAccess or answers with the right page itself. */
  linkGuard: preHandlerAsyncHookHandler;
  portalGuard: preHandlerAsyncHookHandler;
}

type ChooseHandler = (kind: { page: KindHandler<unknown>; routes: readonly KindRoute<unknown>[] }) => KindHandler<unknown> | undefined;

function dispatch(choose: ChooseHandler) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const services = request.server.services;
    const access = patientAccessOf(request);
    const conversation = await findConversation(services.db, access.conversation.id);
    if (!conversation) return reply.callNotFound();
    const { kind, at } = services.itemKinds.parse(conversation, await listItems(services.db, conversation.id));
    const handler = choose(kind);
    // A route of another kind (a booking's, on a message): there is nothing here.
    if (!handler) return reply.callNotFound();
    return handler(request, reply, { ...at, services, access });
  };
}

export async function conversationRoutes(app: FastifyInstance, options: ConversationRoutesOptions) {
  const kinds = app.services.itemKinds.all();
  // Each (method, path) once, whichever kinds declare it; the conversation's kind answers it.
  const routes = new Map<string, { method: 'GET' | 'POST'; path: string; files?: KindRoute<unknown>['files'] }>();
  for (const kind of kinds) {
    for (const r of kind.routes) {
      const key = `${r.method} ${r.path}`;
      routes.set(key, { method: r.method, path: r.path, files: r.files ?? routes.get(key)?.files });
    }
  }
  const config = app.services.config;

  const pages = (guard: preHandlerAsyncHookHandler) => async (scoped: FastifyInstance) => {
    scoped.addHook('preHandler', guard);
    scoped.get('/', dispatch((kind) => kind.page));
    for (const { method, path, files } of routes.values()) {
      scoped.route({
        method,
        url: path,
        // A kind's GET routes do things a HEAD should not (a document's open is audited and marks it opened).
        exposeHeadRoute: false,
        // Reads only the form's CSRF token before the guard and the CSRF check; files wait for the handler.
        ...(files && { preValidation: readMultipartForm(() => files(config)) }),
        handler: dispatch((kind) => kind.routes.find((r) => r.method === method && r.path === path)?.handler),
      });
    }
  };
  await app.register(pages(options.linkGuard), { prefix: conversationPaths.linkPrefix });
  await app.register(pages(options.portalGuard), { prefix: conversationPaths.portalPrefix });
}

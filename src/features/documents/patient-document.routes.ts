// The document's patient pages, under the conversation's base path: the page about it (GET), the file
// opened in the browser (GET /file) and downloaded (GET /file/download). HTTP only.
import type { KindHandler, KindRoute } from '../conversations/item-kinds.ts';
import { conversationPageContext } from '../conversations/conversation-pages.ts';
import { sendStoredFile } from '../files/file-responses.ts';
import type { DocumentPayload } from './document.kind.ts';
import { documentView, openDocument, recordDocumentPageRead } from './documents.service.ts';

const DOCUMENT_VIEW = 'documents/views/patient-document.njk';

async function renderDocument(...[, reply, context]: Parameters<KindHandler<DocumentPayload>>) {
  const view = await documentView(context.services, context, context.access.organisation.name);
  const gone = view.document.state === 'gone';
  return reply.page(
    DOCUMENT_VIEW,
    { ...conversationPageContext(context), pageTitle: gone ? 'This document is no longer available' : `Document from ${context.access.organisation.name}`, view },
    { status: gone ? 410 : 200 },
  );
}

export const showDocument: KindHandler<DocumentPayload> = async (request, reply, context) => {
  await recordDocumentPageRead(context.services, context.access);
  return renderDocument(request, reply, context);
};

function fileHandler(how: 'opened' | 'downloaded'): KindHandler<DocumentPayload> {
  return async (request, reply, context) => {
    const opened = await openDocument(context.services, context.access, context, how);
    if (!opened.available) return renderDocument(request, reply, context);
    return sendStoredFile(reply, opened.file, opened.bytes, how === 'opened' ? 'inline' : 'attachment');
  };
}

export const documentPatientRoutes: readonly KindRoute<DocumentPayload>[] = [
  { method: 'GET', path: '/file', handler: fileHandler('opened') },
  { method: 'GET', path: '/file/download', handler: fileHandler('downloaded') },
];

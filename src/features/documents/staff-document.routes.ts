// Staff pages for documents: the send form (title, an optional note, a PDF) and sending it. The form
// is multipart and read as a stream (platform/http/multipart.ts). A PDF that was taken in stays as the
// form's draft, shown back with a way to remove it, so a mistake in the title never means choosing the
// file again. HTTP only: parse, call the services, render or redirect.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { newSecret } from '../../platform/crypto/tokens.ts';
import type { FormErrors } from '../../platform/http/pages.ts';
import { collectMultipartForm, readMultipartForm, textFields } from '../../platform/http/multipart.ts';
import { DailySendLimitReached } from '../conversations/send-limits.ts';
import { getPatientForStaff, messageLinkPreview, viewPatientForStaff } from '../messages/staff-compose.service.ts';
import { patientSummary } from '../messages/staff-words.ts';
import { currentStaff, requirePermission, staffLayout } from '../staff/staff-session.hooks.ts';
import { DuplicateSubmission, duplicateRedirect, EXPIRED_FORM_MESSAGE, formSubmissionId, newSubmissionId, submissionResult, submittedId } from '../staff/staff-submissions.ts';
import { takeFile, deleteFileBytes, type FileRefusal } from '../files/file-intake.service.ts';
import { staffDraftFiles } from '../files/files.repository.ts';
import { fileView, refusalMessage } from '../files/file-words.ts';
import { documentKind } from './document.kind.ts';
import { DOCUMENT_NOTE_MAX, DOCUMENT_TITLE_MAX } from './document-items.ts';
import { DocumentFileMissing, documentNoteSchema, documentTitleSchema, sendDocument } from './documents.service.ts';

const SEND_VIEW = 'documents/views/staff-send-document.njk';
const patientParams = z.object({ patientId: z.string() });
/** The form's one-time key (newSecret(16)): which drafts are this form's. */
const formKeySchema = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/);
const sentPage = (conversationId: string) => `/staff/conversations/${conversationId}?done=sent`;

export async function staffDocumentRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;
  const maxBytes = services.config.files.documentMaxBytes;

  async function sendPage(
    request: FastifyRequest,
    reply: FastifyReply,
    patientId: string,
    form: { values: Record<string, string>; formKey: string; submissionId: string; alreadySent?: string | null; errors?: FormErrors; sendLimit?: { limit: string }; removed?: boolean },
    status = 200,
  ) {
    const staff = currentStaff(request);
    const patient = await viewPatientForStaff(services, { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip, patientId });
    const drafts = await staffDraftFiles(services.db, staff.organisation.id, staff.user.id, form.formKey);
    return reply.page(
      SEND_VIEW,
      {
        pageTitle: 'Send a document',
        ...staffLayout(staff),
        patient: patientSummary(patient),
        preview: messageLinkPreview(staff.organisation.name, services.config.publicBaseUrl, documentKind.words),
        draft: drafts.at(-1) ? fileView(drafts.at(-1)!) : undefined,
        maxWords: refusalMessage('too_large', { allowedWords: 'a PDF', maxBytes }).replace('The selected file must be smaller than ', ''),
        availableDays: services.config.files.documentAvailableDays,
        titleMax: DOCUMENT_TITLE_MAX,
        noteMax: DOCUMENT_NOTE_MAX,
        ...form,
      },
      { status },
    );
  }

  app.get('/staff/patients/:patientId/document', { preHandler: requirePermission('send') }, async (request, reply) => {
    const { patientId } = patientParams.parse(request.params);
    const submissionId = formSubmissionId(request.query);
    const alreadySent = await submissionResult(services.db, currentStaff(request).user.id, submissionId);
    return sendPage(request, reply, patientId, { values: {}, formKey: newSecret(16), submissionId, alreadySent });
  });

  app.post(
    '/staff/patients/:patientId/document',
    { preValidation: readMultipartForm(() => ({ files: 1, fileBytes: maxBytes })), preHandler: requirePermission('send') },
    async (request, reply) => {
      const staff = currentStaff(request);
      const { patientId } = patientParams.parse(request.params);
      // Before reading any file: a patient of another organisation is a 404 and nothing is stored.
      const patient = await getPatientForStaff(services.db, staff.organisation.id, patientId);
      let refusal: { refusal: FileRefusal; fileName: string } | undefined;
      let filesSeen = 0;
      // The remove button's form is a plain one (no file to send); the send form is multipart.
      const fields = request.multipartForm ? await collectMultipartForm(request.multipartForm, async (file) => {
        filesSeen += 1;
        const formKey = formKeySchema.safeParse(file.fields.formKey);
        if (!formKey.success || filesSeen > 1) {
          file.stream.resume();
          if (filesSeen > 1) refusal = { refusal: 'too_many', fileName: file.fileName };
          return;
        }
        const taken = await takeFile(services, {
          body: file.stream,
          originalName: file.fileName,
          purpose: 'document',
          allowed: ['application/pdf'],
          maxBytes,
          organisationId: staff.organisation.id,
          conversationId: null,
          draftKey: formKey.data,
          uploadedByStaffId: staff.user.id,
          availableDays: services.config.files.documentAvailableDays,
          actor: { type: 'staff', id: staff.user.id, ip: request.ip },
          patientId: patient.id,
        });
        if (!taken.ok) refusal = { refusal: taken.refusal, fileName: file.fileName };
      }) : textFields(request.body);
      const formKeyParsed = formKeySchema.safeParse(fields.formKey);
      const formKey = formKeyParsed.success ? formKeyParsed.data : newSecret(16);
      const values = { title: (fields.title ?? '').slice(0, DOCUMENT_TITLE_MAX * 2), note: (fields.note ?? '').slice(0, DOCUMENT_NOTE_MAX * 2) };
      const drafts = formKeyParsed.success ? await staffDraftFiles(services.db, staff.organisation.id, staff.user.id, formKey) : [];
      const actor = { type: 'staff' as const, id: staff.user.id, ip: request.ip };

      // A second PDF chosen replaces the first: one document a send.
      for (const older of drafts.slice(0, -1)) await deleteFileBytes(services, older, 'removed', actor);
      const draft = drafts.at(-1);

      if (fields.action === 'remove' && draft) {
        await deleteFileBytes(services, draft, 'removed', actor);
        // The remove button's form carries no submission id: the send form comes back with a new one.
        return sendPage(request, reply, patientId, { values, formKey, submissionId: newSubmissionId(), removed: true });
      }

      // A PDF that came with it stays as the form's draft, shown again: nothing is sent.
      const submissionId = submittedId(fields);
      if (!submissionId) {
        return sendPage(request, reply, patientId, { values, formKey, submissionId: newSubmissionId(), errors: { title: { href: '#title', text: EXPIRED_FORM_MESSAGE } } }, 400);
      }

      const errors: FormErrors = {};
      const title = documentTitleSchema.safeParse(values.title);
      if (!title.success) errors.title = { href: '#title', text: title.error.issues[0]!.message };
      const note = documentNoteSchema.safeParse(values.note);
      if (!note.success) errors.note = { href: '#note', text: note.error.issues[0]!.message };
      if (refusal) {
        errors.file = { href: '#file', text: refusalMessage(refusal.refusal, { allowedWords: 'a PDF', maxBytes, maxFiles: 1 }) };
      } else if (!draft) {
        errors.file = { href: '#file', text: 'Select a PDF to send' };
      }
      if (Object.keys(errors).length > 0 || !title.success || !note.success || !draft) {
        return sendPage(request, reply, patientId, { values, formKey, submissionId, errors }, refusal?.refusal === 'scan_failed' ? 503 : 400);
      }
      try {
        const sent = await sendDocument(services, {
          organisationId: staff.organisation.id,
          patient,
          title: title.data,
          note: note.data,
          file: draft,
          sentBy: { staffId: staff.user.id },
          ip: request.ip,
          submission: { staffUserId: staff.user.id, submissionId, resultUrl: sentPage },
        });
        return reply.redirect(sentPage(sent.conversationId), 303);
      } catch (error) {
        // The PDF this post brought again stays an unsent draft, deleted with the other abandoned ones.
        if (error instanceof DuplicateSubmission) return reply.redirect(duplicateRedirect(error), 303);
        if (error instanceof DocumentFileMissing) {
          return sendPage(request, reply, patientId, { values, formKey: newSecret(16), submissionId, errors: { file: { href: '#file', text: 'Select a PDF to send' } } }, 409);
        }
        if (!(error instanceof DailySendLimitReached)) throw error;
        reply.header('Retry-After', String(error.retryAfterSeconds));
        return sendPage(request, reply, patientId, { values, formKey, submissionId, sendLimit: { limit: error.limit.toLocaleString('en-GB') } }, 429);
      }
    },
  );
}

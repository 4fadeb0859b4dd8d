// A patient's attachments: files added to a reply (or a questionnaire's attachment answer) before it
// is sent. Each is taken in as it arrives (file-intake.service.ts) and kept as a draft under the form's
// one-time key, shown back with a way to remove it; sending the reply attaches the drafts to it in the
// reply's own transaction.
import type { Services } from '../../services.ts';
import type { MultipartForm } from '../../platform/http/multipart.ts';
import { collectMultipartForm, drainPart } from '../../platform/http/multipart.ts';
import type { PatientAccess } from '../verification/patient-access.ts';
import type { AllowedType } from '../../platform/files/content-check.ts';
import { deleteFileBytes, takeFile, type FileRefusal } from './file-intake.service.ts';
import { conversationFiles, countUnsentFiles, patientDraftFiles, type FileRow } from './files.repository.ts';
import { fileView, refusalMessage, type FileView } from './file-words.ts';

export const ATTACHMENT_TYPES: readonly AllowedType[] = ['image/jpeg', 'image/png', 'application/pdf'];
export const ATTACHMENT_TYPE_WORDS = 'a JPG, PNG or PDF';
/** Files added and not yet sent, across every form of one conversation. */
export const UNSENT_PER_CONVERSATION = 20;
/** Files one patient (a link, or an NHS login) may add in an hour. */
export const UPLOADS_PER_HOUR = 30;

export interface AttachmentRefusal {
  fileName: string;
  refusal: FileRefusal;
  message: string;
}

export interface AttachmentForm {
  fields: Record<string, string>;
  refusals: AttachmentRefusal[];
}

/**
 * Reads a patient's multipart form, taking each file in as a draft under `draftKeyOf(fields)` (the
 * form's key field, which comes before the file input). A file beyond the limit, or one sent without a
 * valid key, is refused, never stored.
 */
export async function takePatientAttachments(
  services: Services,
  access: PatientAccess,
  form: MultipartForm,
  draftKeyOf: (fields: Record<string, string>) => string | undefined,
  /** False once the patient may send nothing more here (the one reply sent): files are not even read. */
  allowed = access.mayAnswer,
): Promise<AttachmentForm> {
  const { attachmentMaxBytes: maxBytes, attachmentsPerReply: maxFiles } = services.config.files;
  const refusals: AttachmentRefusal[] = [];
  const refuse = (fileName: string, refusal: FileRefusal) =>
    refusals.push({ fileName, refusal, message: refusalMessage(refusal, { allowedWords: ATTACHMENT_TYPE_WORDS, maxBytes, maxFiles, fileName }) });
  let drafts: number | undefined;
  let unsent: number | undefined;
  const fields = await collectMultipartForm(form, async (file) => {
    const draftKey = draftKeyOf(file.fields);
    if (!allowed || !access.mayAnswer || !draftKey) {
      await drainPart(file.stream);
      return;
    }
    // The form's key is the browser's to choose, so the form's own count is not the only bound: a
    // conversation holds at most UNSENT_PER_CONVERSATION files not yet sent, and one patient may add
    // UPLOADS_PER_HOUR files an hour, however many forms or keys they use.
    drafts ??= (await patientDraftFiles(services.db, access.conversation.id, draftKey)).length;
    unsent ??= await countUnsentFiles(services.db, access.conversation.id);
    if (drafts >= maxFiles || unsent >= UNSENT_PER_CONVERSATION) {
      await drainPart(file.stream);
      refuse(file.fileName, 'too_many');
      return;
    }
    const hour = await services.rateLimiter.hit(`patient-uploads:${access.actor.type}:${access.actor.id}`, UPLOADS_PER_HOUR, 3600);
    if (!hour.allowed) {
      await drainPart(file.stream);
      refuse(file.fileName, 'limited');
      return;
    }
    const taken = await takeFile(services, {
      body: file.stream,
      originalName: file.fileName,
      purpose: 'attachment',
      allowed: ATTACHMENT_TYPES,
      maxBytes,
      organisationId: access.organisation.id,
      conversationId: access.conversation.id,
      draftKey,
      uploadedByStaffId: null,
      actor: access.actor,
      patientId: access.subject.patientId,
    });
    if (taken.ok) {
      drafts += 1;
      unsent += 1;
    }
    else refuse(file.fileName, taken.refusal);
  });
  return { fields, refusals };
}

export async function draftAttachments(services: Services, access: PatientAccess, draftKey: string | undefined): Promise<FileRow[]> {
  return draftKey ? patientDraftFiles(services.db, access.conversation.id, draftKey) : [];
}

/** Removes one of this form's drafts (and its bytes); another form's or another conversation's file is untouched. */
export async function removeDraftAttachment(services: Services, access: PatientAccess, draftKey: string, fileId: string): Promise<boolean> {
  const draft = (await patientDraftFiles(services.db, access.conversation.id, draftKey)).find((f) => f.id === fileId);
  if (!draft) return false;
  await deleteFileBytes(services, draft, 'removed', access.actor);
  return true;
}

/** The files each sent item carries, for the patient's own view of what they sent. */
export async function sentFilesByItem(services: Services, conversationId: string): Promise<Map<string, FileView[]>> {
  const byItem = new Map<string, FileView[]>();
  for (const file of await conversationFiles(services.db, conversationId)) {
    const list = byItem.get(file.itemId!) ?? [];
    list.push(fileView(file));
    byItem.set(file.itemId!, list);
  }
  return byItem;
}

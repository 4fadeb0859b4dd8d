// Documents: sending one (a PDF already taken in by the files feature, as the staff member's draft),
// what the patient may do with it, and what staff see of it. Opening is the patient's: every open and
// download is audited, and the first is kept as the conversation's DOCUMENT_OPENED item.
import { z } from 'zod';
import type { Readable } from 'node:stream';
import type { Services } from '../../services.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { startConversation, type SentBy, type StaffSubmission, type StartedConversation } from '../conversations/conversations.service.ts';
import { insertItem } from '../conversations/conversations.repository.ts';
import type { KindConversation, StaffPanel } from '../conversations/item-kinds.ts';
import type { PatientAccess } from '../verification/patient-access.ts';
import type { Patient } from '../patients/patients.service.ts';
import { FileGone, openFile } from '../files/file-intake.service.ts';
import { attachFiles, findConversationFile, type FileRow } from '../files/files.repository.ts';
import { fileView, type FileView } from '../files/file-words.ts';
import { hasControlCharactersBesidesLineBreaks } from '../../platform/names.ts';
import { documentKind, type DocumentPayload } from './document.kind.ts';
import { DOCUMENT_NOTE_MAX, DOCUMENT_OPENED, DOCUMENT_TITLE_MAX, FIRST_OPEN_KEY, STAFF_DOCUMENT } from './document-items.ts';

export const documentTitleSchema = z
  .string()
  .transform((v) => v.replace(/\s+/g, ' ').trim())
  .pipe(
    z
      .string()
      .min(1, 'Enter a title for the document')
      .max(DOCUMENT_TITLE_MAX, `The title must be ${DOCUMENT_TITLE_MAX} characters or fewer`)
      .refine((v) => !hasControlCharactersBesidesLineBreaks(v), 'The title must not contain special control characters'),
  );

export const documentNoteSchema = z
  .string()
  .transform((v) => v.replace(/\r\n?/g, '\n').trim())
  .pipe(
    z
      .string()
      .max(DOCUMENT_NOTE_MAX, `The note must be ${DOCUMENT_NOTE_MAX.toLocaleString('en-GB')} characters or fewer`)
      .refine((v) => !hasControlCharactersBesidesLineBreaks(v), 'The note must not contain special control characters'),
  );

export class DocumentFileMissing extends Error {}

export interface SendDocumentInput {
  organisationId: string;
  patient: Patient;
  title: string;
  note: string;
  /** A PDF taken in by takeFile (purpose 'document'), not sent yet. */
  file: FileRow;
  sentBy: SentBy;
  ip?: string | null;
  submission?: StaffSubmission;
}

export async function sendDocument(services: Services, input: SendDocumentInput): Promise<StartedConversation> {
  const title = documentTitleSchema.parse(input.title);
  const note = documentNoteSchema.parse(input.note);
  if (input.file.purpose !== 'document' || input.file.organisationId !== input.organisationId) throw new DocumentFileMissing('not this organisation’s document');
  return startConversation(services, {
    organisationId: input.organisationId,
    patient: input.patient,
    kind: documentKind,
    payload: { fileId: input.file.id },
    items: [{ kind: STAFF_DOCUMENT, body: note, payload: { fileId: input.file.id, title } }],
    sentBy: input.sentBy,
    ip: input.ip,
    submission: input.submission,
    attach: async (tx, created) => {
      // The draft may have been removed, or sent from another tab, since the form was shown.
      const attached = await attachFiles(tx, { fileIds: [input.file.id], conversationId: created.conversationId, itemId: created.itemIds[0]! });
      if (attached !== 1) throw new DocumentFileMissing('the document was removed or already sent');
    },
  });
}

export type DocumentState =
  | { state: 'available'; file: FileView; availableUntil: Date }
  | { state: 'gone'; file: FileView; since: Date };

export interface DocumentView {
  title: string;
  note: string;
  sentAt: Date;
  senderName: string;
  document: DocumentState;
  firstOpenedAt: Date | null;
}

async function documentFile(on: Queryable, at: KindConversation<DocumentPayload>): Promise<FileRow> {
  const file = await findConversationFile(on, at.conversation.id, at.conversation.payload.fileId);
  if (!file) throw new Error(`document conversation ${at.conversation.id} has no file row`);
  return file;
}

function stateOf(file: FileRow, now: Date): DocumentState {
  const view = fileView(file);
  if (file.deletedAt) return { state: 'gone', file: view, since: file.deletedAt };
  if (file.availableUntil && file.availableUntil <= now) return { state: 'gone', file: view, since: file.availableUntil };
  return { state: 'available', file: view, availableUntil: file.availableUntil! };
}

export async function documentView(services: Services, at: KindConversation<DocumentPayload>, senderName: string): Promise<DocumentView> {
  const file = await documentFile(services.db, at);
  const sent = at.items.find((i) => i.kind === STAFF_DOCUMENT);
  const opened = at.items.find((i) => i.kind === DOCUMENT_OPENED);
  return {
    title: typeof sent?.payload.title === 'string' ? sent.payload.title : 'Document',
    note: sent?.body ?? '',
    sentAt: sent?.createdAt ?? at.conversation.createdAt,
    senderName,
    document: stateOf(file, services.now()),
    firstOpenedAt: opened?.createdAt ?? null,
  };
}

/** Viewing the page about the document is a read; opening the file itself is recorded by openDocument. */
export async function recordDocumentPageRead(services: Services, access: PatientAccess): Promise<void> {
  await recordAudit(services.db, { type: 'document.read', actor: access.actor, ...access.subject });
}

export type OpenedDocument = { available: true; file: FileRow; bytes: Readable } | { available: false };

/**
 * The patient opens (in the browser) or downloads the document. Audited each time; the first time is
 * also the conversation's DOCUMENT_OPENED item ("Opened on …" for staff). Past its time, or deleted,
 * nothing is read from the store.
 */
export async function openDocument(services: Services, access: PatientAccess, at: KindConversation<DocumentPayload>, how: 'opened' | 'downloaded'): Promise<OpenedDocument> {
  const file = await documentFile(services.db, at);
  const now = services.now();
  if (stateOf(file, now).state !== 'available') return { available: false };
  let bytes: Readable;
  try {
    bytes = await openFile(services, file);
  } catch (error) {
    // Deleted by maintenance a moment ago: the patient gets the page that says so.
    if (error instanceof FileGone) return { available: false };
    throw error;
  }
  try {
    await services.db.transaction(async (tx) => {
      await insertItem(tx, { conversationId: at.conversation.id, kind: DOCUMENT_OPENED, body: '', clientKey: FIRST_OPEN_KEY, createdAt: now, payload: { how } });
      await recordAudit(tx, { type: how === 'opened' ? 'document.opened' : 'document.downloaded', actor: access.actor, ...access.subject, details: { fileId: file.id } });
    });
  } catch (error) {
    bytes.destroy();
    throw error;
  }
  return { available: true, file, bytes };
}

/** The staff conversation page's panel: the document, whether it can still be opened, and whether it was. */
export async function documentStaffPanel(services: Services, at: KindConversation<DocumentPayload>): Promise<StaffPanel> {
  const view = await documentView(services, at, '');
  return { view: 'documents/views/staff-document-panel.njk', data: { ...view, notOpenedDays: services.config.files.documentNotOpenedDays } };
}

// The document: the fourth item kind. Staff send a PDF (a letter, results, a fit note); behind the link
// the patient sees what it is, who sent it and when, and opens or downloads it for as long as it is
// available (DOCUMENT_AVAILABLE_DAYS). The file itself is the files feature's: checked, scanned,
// encrypted; this kind only knows which file its item carries.
import { z } from 'zod';
import type { ItemKind } from '../conversations/item-kinds.ts';
import { DOCUMENT_OPENED } from './document-items.ts';
import { documentPatientRoutes, showDocument } from './patient-document.routes.ts';
import { documentStaffPanel } from './documents.service.ts';

export const documentPayloadSchema = z.object({ fileId: z.uuid() });
export type DocumentPayload = z.output<typeof documentPayloadSchema>;

export const documentKind: ItemKind<DocumentPayload> = {
  name: 'document',
  words: { caption: 'Document', thing: 'document', textWaiting: 'you have a new document' },
  sentAuditType: 'document.sent',
  patientItemKinds: [DOCUMENT_OPENED],
  payloadSchema: documentPayloadSchema,
  // The link lasts as long as the document can be opened.
  linkTtlDays: (config) => config.files.documentAvailableDays,
  page: showDocument,
  routes: documentPatientRoutes,
  waitingForPatient: ({ items }) => (items.some((i) => i.kind === DOCUMENT_OPENED) ? { waiting: false } : { waiting: true, tag: 'Not opened yet' }),
  describeForStaff: () => ({
    what: 'Document',
    settingsLabel: 'File',
    settings: 'A PDF for the patient to open or download',
    fromPatient: { waiting: 'Opened', sent: () => 'Opened', none: 'Not opened yet' },
  }),
  describeItemForStaff: (item, names) =>
    item.kind === DOCUMENT_OPENED
      ? { fromPatient: true, tag: 'Opened', heading: `Opened by ${names.patientName}` }
      : { fromPatient: false, heading: `${typeof item.payload.title === 'string' ? item.payload.title : 'Document'}, sent by ${names.authorName ?? 'your organisation'}` },
  staffPanel: documentStaffPanel,
};

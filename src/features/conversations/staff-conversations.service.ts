// What staff see of a conversation, whatever its kind: the patient, the items in order, the texts and
// their delivery, the link's story and its state. Every function takes the staff member's organisation
// and answers "not found" for a conversation of any other organisation.
import type { Queryable } from '../../platform/db/client.ts';
import { NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Services } from '../../services.ts';
import { conversationEvents, countRecordMismatches, recordAudit } from '../audit/audit.service.ts';
import { conversationLinks, currentLink, linkState, type LinkState } from '../links/links.service.ts';
import { getPatient, type Patient } from '../patients/patients.service.ts';
import { textsOfConversation } from '../sms/outbox.repository.ts';
import { findOrganisationConversation, listItemsWithAuthors } from './conversations.repository.ts';
import { conversationFiles } from '../files/files.repository.ts';
import { fileView, type FileView } from '../files/file-words.ts';
import type { StaffDescription, StaffItemDescription, StaffPanel } from './item-kinds.ts';

export interface ConversationForStaff {
  conversation: { id: string; kind: string; createdAt: Date; organisationId: string; thing: string } & StaffDescription;
  patient: Patient;
  items: Array<{ id: string; seq: number; kind: string; body: string; createdAt: Date; files: FileView[] } & StaffItemDescription>;
  texts: Array<{ id: string; kind: string; phoneE164: string; status: string; createdAt: Date; sentAt: Date | null; updatedAt: Date }>;
  events: Array<{ id: number; type: string; occurredAt: Date; details: Record<string, unknown> }>;
  link: LinkState | { state: 'none' };
  /** The link staff can revoke right now, if any. */
  canRevoke: boolean;
  /** NHS logins with this NHS number whose date of birth or family name did not match this version of the record. */
  recordMismatches: number;
  /** What only this conversation's kind shows (a questionnaire's answers). */
  panel?: StaffPanel;
  /** Something the patient sent needs a clinician soon (the inbox lists it first). */
  urgentSince: Date | null;
}

export async function getConversationForStaff(
  services: Services,
  db: Queryable,
  input: { organisationId: string; conversationId: string; now: Date; eventTypes: readonly string[] },
): Promise<ConversationForStaff> {
  const conversation = isUuid(input.conversationId) ? await findOrganisationConversation(db, input.organisationId, input.conversationId) : undefined;
  if (!conversation) throw new NotFound('Page not found', 'conversation not found in this organisation');
  const patient = await getPatient(db, input.organisationId, conversation.patientId);
  if (!patient) throw new NotFound('Page not found', 'conversation without its patient');
  const [items, texts, events, links, recordMismatches, files] = await Promise.all([
    listItemsWithAuthors(db, conversation.id),
    textsOfConversation(db, input.organisationId, conversation.id),
    conversationEvents(db, conversation.id, input.eventTypes),
    conversationLinks(db, conversation.id),
    countRecordMismatches(db, { organisationId: input.organisationId, patientId: patient.id, recordUpdatedAt: patient.updatedAt }),
    conversationFiles(db, conversation.id),
  ]);
  const current = currentLink(links);
  const link = current ? linkState(current, input.now) : { state: 'none' as const };
  const { kind, at } = services.itemKinds.parse(conversation, items.map((i) => i.item));
  const panel = await kind.staffPanel?.(services, at, { nhsNumber: patient.nhsNumber });
  return {
    conversation: {
      id: conversation.id,
      kind: conversation.kind,
      createdAt: conversation.createdAt,
      organisationId: conversation.organisationId,
      thing: kind.words.thing,
      ...kind.describeForStaff(at.conversation.payload),
    },
    patient,
    items: items.map(({ item, authorName }) => ({
      id: item.id,
      seq: item.seq,
      kind: item.kind,
      body: item.body,
      createdAt: item.createdAt,
      // Whatever the kind, an item's files (a document sent, a reply's photos) show under it.
      files: files.filter((f) => f.itemId === item.id).map(fileView),
      ...kind.describeItemForStaff(item, { patientName: `${patient.givenName} ${patient.familyName}`, authorName }),
    })),
    texts,
    events,
    link,
    canRevoke: link.state === 'active' || link.state === 'locked' || link.state === 'locked-permanently',
    recordMismatches,
    ...(panel && { panel }),
    urgentSince: conversation.urgentSince,
  };
}

/** The conversation page: reads it and records that this staff member saw it (and up to which item). */
export async function viewConversation(
  services: Services,
  input: { organisationId: string; staffId: string; conversationId: string; ip: string; eventTypes: readonly string[] },
): Promise<ConversationForStaff> {
  const view = await getConversationForStaff(services, services.db, { ...input, now: services.now() });
  await recordAudit(services.db, {
    type: 'conversation.viewed',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    patientId: view.patient.id,
    conversationId: view.conversation.id,
    // The inbox's "reply waiting" compares this with the sequence numbers of later replies.
    details: { lastItemSeq: view.items.at(-1)?.seq ?? 0 },
  });
  return view;
}

// What staff see of a conversation, whatever its kind: the patient, the items in order, the texts and
// their delivery, the link's story and its state. Every function takes the staff member's organisation
// and answers "not found" for a conversation of any other organisation.
import type { Queryable } from '../../platform/db/client.ts';
import { InvalidInput, NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Services } from '../../services.ts';
import { conversationEvents, countRecordMismatches, recordAudit } from '../audit/audit.service.ts';
import { conversationLinks, currentLink, linkState, type LinkState } from '../links/links.service.ts';
import { getPatient, type Patient } from '../patients/patients.service.ts';
import { textsOfConversation } from '../sms/outbox.repository.ts';
import {
  assignIfUnchanged,
  findOrganisationConversation,
  listAssignableStaff,
  listItemsWithAuthors,
  listOtherViewers,
  markConversationRead,
  markDoneIfNothingNewer,
  setConversationState,
  touchConversationViewer,
} from './conversations.repository.ts';
import { linkStatus, type LinkStatus } from '../links/link-status.ts';
import { conversationFiles } from '../files/files.repository.ts';
import { fileView, type FileView } from '../files/file-words.ts';
import type { StaffDescription, StaffItemDescription, StaffPanel, StaffViewer } from './item-kinds.ts';
import { roleMay, type StaffRole } from '../staff/permissions.ts';

export interface ConversationForStaff {
  conversation: { id: string; kind: string; createdAt: Date; organisationId: string; thing: string } & StaffDescription;
  patient: Patient;
  items: Array<{ id: string; seq: number; kind: string; body: string; createdAt: Date; files: FileView[] } & StaffItemDescription>;
  texts: Array<{ id: string; kind: string; phoneE164: string; status: string; createdAt: Date; sentAt: Date | null; updatedAt: Date }>;
  events: Array<{ id: number; type: string; occurredAt: Date; details: Record<string, unknown> }>;
  link: LinkState | { state: 'none' };
  /** The same words and colour as the inbox's link column. */
  linkStatus: LinkStatus;
  assignedStaffId: string | null;
  doneAt: Date | null;
  /** Active colleagues of the organisation, for the assign select. */
  assignable: Array<{ id: string; name: string }>;
  /** Other staff with the page open in the last VIEWER_WINDOW_MS (never the viewer). */
  alsoViewing: string[];
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
  input: { organisationId: string; conversationId: string; now: Date; eventTypes: readonly string[]; staffId?: string; role: StaffRole },
): Promise<ConversationForStaff> {
  const viewer: StaffViewer = { mayReadAnswers: roleMay(input.role, 'readAnswers') };
  const answerItemKinds = services.itemKinds.answerItemKinds();
  const conversation = isUuid(input.conversationId) ? await findOrganisationConversation(db, input.organisationId, input.conversationId) : undefined;
  if (!conversation) throw new NotFound('Page not found', 'conversation not found in this organisation');
  const patient = await getPatient(db, input.organisationId, conversation.patientId);
  if (!patient) throw new NotFound('Page not found', 'conversation without its patient');
  const [items, texts, events, links, recordMismatches, files, assignable, alsoViewing] = await Promise.all([
    listItemsWithAuthors(db, conversation.id),
    textsOfConversation(db, input.organisationId, conversation.id),
    conversationEvents(db, conversation.id, input.eventTypes),
    conversationLinks(db, conversation.id),
    countRecordMismatches(db, { organisationId: input.organisationId, patientId: patient.id, recordUpdatedAt: patient.updatedAt }),
    conversationFiles(db, conversation.id),
    listAssignableStaff(db, input.organisationId),
    input.staffId ? listOtherViewers(db, conversation.id, input.staffId, new Date(input.now.getTime() - VIEWER_WINDOW_MS)) : [],
  ]);
  const current = currentLink(links);
  const link = current ? linkState(current, input.now) : { state: 'none' as const };
  const { kind, at } = services.itemKinds.parse(conversation, items.map((i) => i.item));
  const panel = await kind.staffPanel?.(services, at, { nhsNumber: patient.nhsNumber }, viewer);
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
    items: items.map(({ item, authorName, apiKeyName }) => {
      // Clinical answers are for roles that may read them; the others see that they arrived.
      const hidden = !viewer.mayReadAnswers && answerItemKinds.has(item.kind);
      return {
        id: item.id,
        seq: item.seq,
        kind: item.kind,
        body: hidden ? '' : item.body,
        createdAt: item.createdAt,
        // Whatever the kind, an item's files (a document sent, a reply's photos) show under it.
        files: hidden ? [] : files.filter((f) => f.itemId === item.id).map(fileView),
        // What the API sent is named by its key ("API key ‘GP system’"), wherever the author is shown.
        ...kind.describeItemForStaff(item, {
          patientName: `${patient.givenName} ${patient.familyName}`,
          authorName: authorName ?? (apiKeyName && !kind.patientItemKinds.includes(item.kind) ? `API key ‘${apiKeyName}’` : null),
        }),
      };
    }),
    texts,
    events,
    link,
    linkStatus: linkStatus(link),
    assignedStaffId: conversation.assignedStaffId,
    doneAt: conversation.doneAt,
    assignable,
    alsoViewing,
    canRevoke: link.state === 'active' || link.state === 'locked' || link.state === 'locked-permanently',
    recordMismatches,
    ...(panel && { panel }),
    urgentSince: conversation.urgentSince,
  };
}

/** "Also viewing" counts staff seen this recently; the page's script refreshes every 20 seconds. */
export const VIEWER_WINDOW_MS = 2 * 60_000;

/**
 * The conversation page: reads it and records that this staff member saw it, up to its newest item
 * (their own "unread" in the inbox) and that they have it open now ("Also viewing" for colleagues).
 */
export async function viewConversation(
  services: Services,
  input: { organisationId: string; staffId: string; role: StaffRole; conversationId: string; ip: string; eventTypes: readonly string[] },
): Promise<ConversationForStaff> {
  const now = services.now();
  const view = await getConversationForStaff(services, services.db, { ...input, now });
  await markConversationRead(services.db, view.conversation.id, input.staffId, view.items.at(-1)?.seq ?? 0, now);
  await touchConversationViewer(services.db, view.conversation.id, input.staffId, now);
  await recordAudit(services.db, {
    type: 'conversation.viewed',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    patientId: view.patient.id,
    conversationId: view.conversation.id,
    details: { lastItemSeq: view.items.at(-1)?.seq ?? 0 },
  });
  return view;
}

async function organisationConversation(services: Services, organisationId: string, conversationId: string) {
  const conversation = isUuid(conversationId) ? await findOrganisationConversation(services.db, organisationId, conversationId) : undefined;
  if (!conversation) throw new NotFound('Page not found', 'conversation not found in this organisation');
  return conversation;
}

/** The poll behind "Also viewing": refreshes the caller's own row and names the others. Not audited: it shows no patient data. */
export async function pollConversationViewers(services: Services, input: { organisationId: string; staffId: string; conversationId: string }): Promise<string[]> {
  const conversation = await organisationConversation(services, input.organisationId, input.conversationId);
  const now = services.now();
  await touchConversationViewer(services.db, conversation.id, input.staffId, now);
  return listOtherViewers(services.db, conversation.id, input.staffId, new Date(now.getTime() - VIEWER_WINDOW_MS));
}

interface StateChange {
  organisationId: string;
  staffId: string;
  conversationId: string;
  ip: string;
}

/** Assigns to an active colleague of the same organisation, or to nobody (''). */
export async function assignConversation(services: Services, input: StateChange & { assignTo: string; assignedOnPage?: string | null }): Promise<void> {
  const conversation = await organisationConversation(services, input.organisationId, input.conversationId);
  let assignTo: string | null = null;
  if (input.assignTo !== '') {
    const colleagues = await listAssignableStaff(services.db, input.organisationId);
    // Another organisation's account, a deactivated one and a made-up id all read the same.
    if (!colleagues.some((c) => c.id === input.assignTo)) throw new InvalidInput('Select someone who works at your organisation', 'assignee not an active colleague');
    assignTo = input.assignTo;
  }
  // The page says who it was assigned to when it was opened; an older form without it compares with now.
  const from = input.assignedOnPage === undefined ? conversation.assignedStaffId : input.assignedOnPage;
  await services.db.transaction(async (tx) => {
    if (!(await assignIfUnchanged(tx, input.organisationId, conversation.id, from, assignTo))) {
      throw new InvalidInput('Someone else changed who this is assigned to since you opened the page. Check who it is assigned to now, then choose again', 'assignee changed meanwhile');
    }
    await recordAudit(tx, {
      type: 'conversation.assigned',
      actor: { type: 'staff', id: input.staffId, ip: input.ip },
      organisationId: input.organisationId,
      patientId: conversation.patientId,
      conversationId: conversation.id,
      details: { to: assignTo, from },
    });
  });
}

export async function setConversationUrgent(services: Services, input: StateChange & { urgent: boolean }): Promise<void> {
  const conversation = await organisationConversation(services, input.organisationId, input.conversationId);
  await services.db.transaction(async (tx) => {
    // Marking an urgent one urgent again keeps the time it first became urgent (a questionnaire's flag).
    await setConversationState(tx, input.organisationId, conversation.id, {
      urgentSince: input.urgent ? (conversation.urgentSince ?? services.now()) : null,
    });
    await recordAudit(tx, {
      type: input.urgent ? 'conversation.urgent_set' : 'conversation.urgent_cleared',
      actor: { type: 'staff', id: input.staffId, ip: input.ip },
      organisationId: input.organisationId,
      patientId: conversation.patientId,
      conversationId: conversation.id,
    });
  });
}

export async function setConversationDone(services: Services, input: StateChange & { done: boolean; seenSeq?: number }): Promise<void> {
  const conversation = await organisationConversation(services, input.organisationId, input.conversationId);
  const kind = services.itemKinds.get(conversation.kind);
  await services.db.transaction(async (tx) => {
    if (input.done && input.seenSeq !== undefined) {
      const marked = await markDoneIfNothingNewer(tx, {
        organisationId: input.organisationId,
        conversationId: conversation.id,
        seenSeq: input.seenSeq,
        patientItemKinds: kind.patientItemKinds,
        now: services.now(),
      });
      if (!marked) throw new InvalidInput('Not marked as done: the patient has sent something new since you opened this page. Read it, then mark it as done', 'patient item newer than the page');
    } else {
      await setConversationState(tx, input.organisationId, conversation.id, { doneAt: input.done ? (conversation.doneAt ?? services.now()) : null });
    }
    await recordAudit(tx, {
      type: input.done ? 'conversation.done' : 'conversation.reopened',
      actor: { type: 'staff', id: input.staffId, ip: input.ip },
      organisationId: input.organisationId,
      patientId: conversation.patientId,
      conversationId: conversation.id,
    });
  });
}

/** What the revoke confirmation page says: whose link, and whether there is one left to revoke. */
export async function viewRevokeConfirmation(
  services: Services,
  input: StateChange,
): Promise<{ conversationId: string; patientName: string; thing: string; canRevoke: boolean; linkStatus: LinkStatus }> {
  const conversation = await organisationConversation(services, input.organisationId, input.conversationId);
  const patient = await getPatient(services.db, input.organisationId, conversation.patientId);
  if (!patient) throw new NotFound('Page not found', 'conversation without its patient');
  const current = currentLink(await conversationLinks(services.db, conversation.id));
  const state = current ? linkState(current, services.now()) : { state: 'none' as const };
  await recordAudit(services.db, {
    type: 'patient.viewed',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    patientId: patient.id,
    details: { page: 'revoke-confirmation', conversationId: conversation.id },
  });
  return {
    conversationId: conversation.id,
    patientName: `${patient.givenName} ${patient.familyName}`,
    thing: services.itemKinds.parse(conversation, []).kind.words.thing,
    canRevoke: state.state === 'active' || state.state === 'locked' || state.state === 'locked-permanently',
    linkStatus: linkStatus(state),
  };
}

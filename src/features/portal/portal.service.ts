// The patient portal's list: every conversation sent to the NHS number NHS login vouched for, by every
// organisation whose record also has NHS login's date of birth and family name, newest first. Revoked
// ones are gone; expired ones stay, with nothing left to do. What each one is and whether it waits for
// the patient is its item kind's to say.
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { listConversationsForNhsNumber, listItemsOf } from '../conversations/conversations.repository.ts';
import type { PortalPatient } from '../verification/portal-access.service.ts';
import { recordMatches } from '../patients/record-match.ts';

export interface PortalConversationSummary {
  id: string;
  organisationName: string;
  sentAt: Date;
  /** What it is, in the patient's words ("Message"). */
  what: string;
  /** The tag to show when it waits for the patient ("Reply needed"); undefined when nothing is needed. */
  actionNeeded: string | undefined;
}

export async function listPortalConversations(services: Services, patient: PortalPatient): Promise<PortalConversationSummary[]> {
  // A record with this NHS number but another person's details shows nothing (counted at sign-in).
  const rows = (await listConversationsForNhsNumber(services.db, patient.nhsNumber)).filter((row) => recordMatches(row.patient, patient.identity));
  const items = await listItemsOf(
    services.db,
    rows.map((r) => r.conversation.id),
  );
  const now = services.now();
  await recordAudit(services.db, { type: 'portal.listed', actor: patient.actor, details: { conversations: rows.length } });
  return rows.map((row) => {
    const { kind, at } = services.itemKinds.parse(row.conversation, items.get(row.conversation.id) ?? []);
    const open = row.linkExpiresAt.getTime() > now.getTime();
    const waiting = open ? kind.waitingForPatient(at, now) : { waiting: false as const };
    return {
      id: row.conversation.id,
      organisationName: row.organisationName,
      sentAt: row.conversation.createdAt,
      what: kind.words.caption,
      actionNeeded: waiting.waiting ? waiting.tag : undefined,
    };
  });
}

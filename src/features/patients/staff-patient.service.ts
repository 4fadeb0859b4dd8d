// One patient's page for staff: who they are, what can be sent to them, and their conversations with the
// organisation. Reached from an exact NHS-number search; recorded as 'patient.viewed'.
import type { Services } from '../../services.ts';
import { listPatientConversations } from '../conversations/conversations.repository.ts';
import { viewPatientForStaff } from '../messages/staff-compose.service.ts';
import type { Patient } from './patients.service.ts';

/** Enough for a patient seen for years; older conversations are in the inbox's search. */
export const PATIENT_PAGE_CONVERSATIONS = 50;

export interface PatientConversationRow {
  conversationId: string;
  sentAt: Date;
  what: string;
  settings: string;
  done: boolean;
  urgent: boolean;
}

export async function viewPatientPage(
  services: Services,
  input: { organisationId: string; staffId: string; ip: string; patientId: string },
): Promise<{ patient: Patient; conversations: PatientConversationRow[] }> {
  // 404 for a patient of another organisation, before anything of theirs is read.
  const patient = await viewPatientForStaff(services, input);
  const rows = await listPatientConversations(services.db, input.organisationId, patient.id, PATIENT_PAGE_CONVERSATIONS);
  return {
    patient,
    conversations: rows.map((row) => {
      const { kind, at } = services.itemKinds.parse(row, []);
      const described = kind.describeForStaff(at.conversation.payload);
      return {
        conversationId: row.id,
        sentAt: row.createdAt,
        what: described.what,
        settings: described.settings,
        done: row.doneAt !== null,
        urgent: row.urgentSince !== null,
      };
    }),
  };
}

// Append-only audit trail (the table refuses UPDATE and DELETE). Events are written on the same
// transaction as the decision they record. Never put a secret or patient identifier in details.
import { and, asc, eq, inArray, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { auditEvents } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';

export type AuditEventType =
  | 'link.opened'
  | 'link.dob_wrong'
  | 'link.dob_right'
  | 'link.locked'
  | 'link.revoked'
  | 'code.sent'
  | 'code.wrong'
  | 'code.right'
  | 'code.burned'
  | 'device.trusted'
  | 'message.read'
  | 'message.sent'
  | 'reply.sent'
  // Staff replied in a 'conversation' message (details: conversationId, itemId; never the body), with a
  // text carrying a new link to the same conversation.
  | 'message.staff_replied'
  | 'conversation.viewed'
  // Staff reads that show patient data: the search (its results, never the terms searched for), the
  // compose page (one patient's summary) and the inbox (a page of conversations with patient names).
  | 'patient.searched'
  | 'patient.viewed'
  | 'inbox.viewed'
  | 'patient.created'
  | 'patient.updated'
  | 'staff.signed_in'
  | 'staff.sign_in_failed'
  | 'staff.signed_out'
  | 'api.message_viewed'
  // NHS login from a link: the identity matched the patient (P9), did not match, or was not proven strongly enough.
  | 'nhs_login.verified'
  | 'nhs_login.mismatch'
  | 'nhs_login.not_strong'
  // The patient portal (NHS login at the home page).
  | 'portal.signed_in'
  | 'portal.signed_out'
  | 'portal.listed'
  // NHS login gave this NHS number, but the organisation's record has another date of birth or family
  // name: the portal showed none of its conversations (details say which differ, never their values).
  | 'portal.record_mismatch'
  // The organisation's daily send limit: the send that reached 80% of it, and the one that reached it.
  | 'organisation.send_limit_warning'
  | 'organisation.send_limit_reached'
  // The operators' command line (src/cli/admin.ts): actor 'operator', id the operating-system user.
  | 'operator.organisation_created'
  | 'operator.staff_created'
  | 'operator.api_key_created'
  | 'operator.api_key_revoked'
  | 'operator.questionnaire_added'
  // FILE_ENCRYPTION_KEYS rotation: a batch of files' data keys re-wrapped under the newest key (details: counts and key ids).
  | 'operator.file_keys_rewrapped'
  // Organisations' own questionnaires (features/questionnaires): added by an API key or staff, and API reads.
  | 'questionnaire.added'
  | 'api.questionnaire_viewed'
  | 'api.questionnaires_listed'
  // A questionnaire conversation: each page the patient saves (which question, never the answer), and
  // reads of its QuestionnaireResponse by staff (download) and through the API.
  | 'questionnaire.page_saved'
  // The maintenance job texted a reminder (details: which one, and any earlier one skipped because it
  // was missed), with a new link to the same questionnaire that closes when it does.
  | 'questionnaire.reminder_sent'
  // Booking (features/booking): staff set-up, invitations, and each booking's life. details carry ids
  // and times, never what the appointment is for beyond the type's id.
  | 'booking.invited'
  | 'booking.clinic_changed'
  | 'booking.slot_blocked'
  | 'booking.slot_unblocked'
  | 'booking.booked'
  | 'booking.changed'
  | 'booking.cancelled'
  | 'booking.reminder_sent'
  | 'booking.calendar_downloaded'
  | 'booking.diary_viewed'
  | 'api.booking_slots_listed'
  | 'api.bookings_listed'
  | 'api.booking_invitation_viewed'
  | 'api.document_viewed'
  | 'questionnaire_response.viewed'
  | 'api.questionnaire_response_viewed'
  // Files (features/files): each upload taken or refused (details: the reason, never the file's name),
  // bytes deleted (expired, abandoned, removed), and every look at one: a patient opening or downloading
  // a document, staff downloading a file or seeing an image's thumbnail.
  // The staff workspace (issue 14): accounts, the second factor, the inbox's state, templates, the audit viewer.
  | 'staff.second_factor_reset'
  // The inbox's state of a conversation (details of assigned: to and from, staff ids or null).
  | 'conversation.assigned'
  | 'conversation.urgent_set'
  | 'conversation.urgent_cleared'
  | 'conversation.done'
  | 'conversation.reopened'
  // Message templates (details: the template's id and name), and reads of the audit trail itself
  // (details: the filters used, never the events shown).
  | 'template.created'
  | 'template.changed'
  | 'template.deleted'
  | 'audit.viewed'
  | 'audit.exported'
  // Sign-in's second factor (features/staff/staff-second-factor.service.ts; details: method 'totp' |
  // 'recovery_code', never the code), new recovery codes, and a temporary password replaced.
  | 'staff.second_factor_enrolled'
  | 'staff.second_factor_failed'
  | 'staff.recovery_codes_replaced'
  | 'staff.password_changed'
  // Admins managing their organisation's staff (features/staff/staff-admin.service.ts); actor the admin,
  // except setup_link_used (the person whose account it is). details carry ids and roles, never a secret.
  | 'staff.created'
  | 'staff.role_changed'
  | 'staff.setup_link_issued'
  | 'staff.setup_link_used'
  | 'staff.deactivated'
  | 'staff.reactivated'
  | 'file.uploaded'
  | 'file.refused'
  | 'file.deleted'
  | 'file.downloaded'
  | 'file.thumbnail_viewed'
  | 'document.opened'
  | 'document.downloaded'
  // Each item kind's own events (features/conversations/item-kinds.ts): '<kind>.sent' (re-sent: details
  // say so), '<kind>.read' and '<kind>.answered'.
  | `${string}.sent`
  | `${string}.read`
  | `${string}.answered`;

export interface AuditActor {
  type: 'patient_link' | 'patient_nhs_login' | 'staff' | 'api_key' | 'system' | 'operator';
  id?: string | null;
  ip?: string | null;
}

export interface AuditEvent {
  type: AuditEventType;
  actor: AuditActor;
  organisationId?: string | null;
  patientId?: string | null;
  conversationId?: string | null;
  linkId?: string | null;
  details?: Record<string, unknown>;
}

export async function recordAudit(on: Queryable, event: AuditEvent): Promise<void> {
  // Nearly every request writes one. Always the same columns, so it can be a named statement that
  // PostgreSQL parses and plans once per connection (inside a transaction too).
  await on
    .insert(auditEvents)
    .values({
      type: event.type,
      actorType: event.actor.type,
      actorId: event.actor.id ?? null,
      ip: event.actor.ip ?? null,
      organisationId: event.organisationId ?? null,
      patientId: event.patientId ?? null,
      conversationId: event.conversationId ?? null,
      linkId: event.linkId ?? null,
      details: event.details ?? {},
    })
    .prepare('dovecote_audit_insert')
    .execute();
}

/** A conversation's events of these types, oldest first (at most `limit`), for the staff conversation page. */
export async function conversationEvents(on: Queryable, conversationId: string, types: readonly string[], limit = 500) {
  return on
    .select({ id: auditEvents.id, type: auditEvents.type, occurredAt: auditEvents.occurredAt, details: auditEvents.details })
    .from(auditEvents)
    .where(and(eq(auditEvents.conversationId, conversationId), inArray(auditEvents.type, [...types])))
    .orderBy(asc(auditEvents.id))
    .limit(limit);
}

/**
 * How many 'portal.record_mismatch' events this version of the patient's record has had (the version
 * is its updatedAt, which each event records): after staff change the record the count starts again.
 */
export async function countRecordMismatches(on: Queryable, input: { organisationId: string; patientId: string; recordUpdatedAt: Date }): Promise<number> {
  const [row] = await on
    .select({ n: sql<number>`count(*)`.mapWith(Number) })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.type, 'portal.record_mismatch'),
        eq(auditEvents.patientId, input.patientId),
        eq(auditEvents.organisationId, input.organisationId),
        sql`${auditEvents.details}->>'recordUpdatedAt' = ${input.recordUpdatedAt.toISOString()}`,
      ),
    );
  return row?.n ?? 0;
}

/**
 * The newest item staff had seen when they last opened the conversation whose id `conversationId`
 * names (SQL, for a list query): each 'conversation.viewed' event records it.
 */
export function lastViewedItemSeqSql(conversationId: SQL | AnyColumn): SQL<number | null> {
  return sql<number | null>`(
    SELECT (${auditEvents.details}->>'lastItemSeq')::bigint FROM ${auditEvents}
    WHERE ${auditEvents.conversationId} = ${conversationId} AND ${auditEvents.type} = 'conversation.viewed'
    ORDER BY ${auditEvents.id} DESC LIMIT 1)`;
}

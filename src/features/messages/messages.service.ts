// Sending a message: one transaction writes the conversation, the staff message, a new secure link,
// the outbound text and the audit event. Either all of it happens or none of it.
import { z } from 'zod';
import { conversations, conversationItems } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { issueLink, linkUrl } from '../links/links.service.ts';
import { enqueueSms } from '../sms/outbox.service.ts';
import { getOrganisation } from '../organisations/organisations.service.ts';
import type { Patient } from '../patients/patients.service.ts';
import { AppError } from '../../platform/http/errors.ts';

export const MESSAGE_BODY_MAX = 5000;
export const REPLY_BODY_MAX = 1000;
export const replyModes = ['none', 'once', 'conversation'] as const;
export type ReplyMode = (typeof replyModes)[number];

export const messageBodySchema = z
  .string('Enter a message')
  .transform((v) => v.replace(/\r\n/g, '\n').trim())
  .pipe(
    z
      .string()
      .min(1, 'Enter a message')
      .max(MESSAGE_BODY_MAX, `Message must be ${MESSAGE_BODY_MAX.toLocaleString('en-GB')} characters or fewer`)
      // Tabs and new lines are fine; other control characters are not text.
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      .regex(/^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$/, 'Message must not contain control characters'),
  );

export interface SendMessageInput {
  organisationId: string;
  patient: Patient;
  body: string;
  replyMode: ReplyMode;
  sentBy: { staffId: string } | { apiKeyId: string };
  ip?: string | null;
}

export interface SentMessage {
  conversationId: string;
  linkId: string;
  outboundSmsId: string;
}

export async function sendMessage(services: Services, input: SendMessageInput): Promise<SentMessage> {
  if (input.patient.organisationId !== input.organisationId) {
    // Defence in depth: callers look patients up within the organisation already.
    throw new AppError(404, 'Patient not found', 'patient belongs to another organisation');
  }
  const body = messageBodySchema.parse(input.body);
  const now = services.now();
  const organisation = await getOrganisation(services.db, input.organisationId);
  if (!organisation) throw new AppError(404, 'Organisation not found');
  const actor: AuditActor =
    'staffId' in input.sentBy
      ? { type: 'staff', id: input.sentBy.staffId, ip: input.ip }
      : { type: 'api_key', id: input.sentBy.apiKeyId, ip: input.ip };

  return services.db.transaction(async (tx) => {
    const [conversation] = await tx
      .insert(conversations)
      .values({
        organisationId: input.organisationId,
        patientId: input.patient.id,
        replyMode: input.replyMode,
        createdByStaffId: 'staffId' in input.sentBy ? input.sentBy.staffId : null,
        createdByApiKeyId: 'apiKeyId' in input.sentBy ? input.sentBy.apiKeyId : null,
        createdAt: now,
      })
      .returning();
    await tx.insert(conversationItems).values({
      conversationId: conversation!.id,
      kind: 'staff_message',
      body,
      authorStaffId: 'staffId' in input.sentBy ? input.sentBy.staffId : null,
      createdAt: now,
    });
    const { link, token } = await issueLink(tx, {
      conversationId: conversation!.id,
      phoneE164: input.patient.mobileE164,
      ttlDays: services.config.linkTtlDays,
      now,
    });
    const sms = await enqueueSms(tx, services.jobs, {
      organisationId: input.organisationId,
      conversationId: conversation!.id,
      linkId: link.id,
      kind: 'message_link',
      phoneE164: input.patient.mobileE164,
      personalisation: { organisation_name: organisation.name, link: linkUrl(services.config.publicBaseUrl, token) },
    });
    await recordAudit(tx, {
      type: 'message.sent',
      actor,
      organisationId: input.organisationId,
      patientId: input.patient.id,
      conversationId: conversation!.id,
      linkId: link.id,
      details: { replyMode: input.replyMode },
    });
    return { conversationId: conversation!.id, linkId: link.id, outboundSmsId: sms.id };
  });
}

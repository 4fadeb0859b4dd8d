// What a verified patient sees behind a link: the staff message, their replies and, when staff allowed
// it, a reply box. Access is decided by verification (checkPatientAccess); this file only knows items.
import { and, asc, count, eq } from 'drizzle-orm';
import { z } from 'zod';
import { conversationItems, conversations } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import type { Services } from '../../services.ts';
import { recordAudit, type AuditEvent } from '../audit/audit.service.ts';
import {
  auditSubject,
  checkPatientAccess,
  patientActor,
  type AccessProblem,
  type LinkContext,
} from '../verification/patient-access.service.ts';
import { REPLY_BODY_MAX, type ReplyMode } from './messages.service.ts';

export const replyBodySchema = z
  .string()
  // Browsers send new lines as CRLF; a new line is one character to the patient and to the counter.
  .transform((v) => v.replace(/\r\n?/g, '\n').trim())
  .pipe(
    z
      .string()
      .min(1, 'Enter your reply')
      .max(REPLY_BODY_MAX, `Your reply must be ${REPLY_BODY_MAX.toLocaleString('en-GB')} characters or fewer`)
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      .regex(/^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$/, 'Your reply must not contain special control characters'),
  );

export interface PatientMessageItem {
  kind: 'staff_message' | 'patient_reply';
  body: string;
  createdAt: Date;
}

/** What the message page shows of one conversation, however the patient got in (a link, or NHS login). */
export interface ConversationMessages {
  replyMode: ReplyMode;
  sentAt: Date;
  message: PatientMessageItem | undefined;
  replies: PatientMessageItem[];
  canReply: boolean;
}

export interface PatientMessageView extends ConversationMessages {
  context: LinkContext;
}

export interface ConversationRef {
  id: string;
  replyMode: ReplyMode;
  createdAt: Date;
}

export async function loadConversationMessages(on: Queryable, conversation: ConversationRef): Promise<ConversationMessages> {
  const items = await on
    .select({ kind: conversationItems.kind, body: conversationItems.body, createdAt: conversationItems.createdAt })
    .from(conversationItems)
    .where(eq(conversationItems.conversationId, conversation.id))
    .orderBy(asc(conversationItems.seq));
  const message = items.find((i) => i.kind === 'staff_message');
  const replies = items.filter((i) => i.kind === 'patient_reply');
  const replyMode = conversation.replyMode;
  return {
    replyMode,
    sentAt: message?.createdAt ?? conversation.createdAt,
    message,
    replies,
    canReply: replyAllowed(replyMode, replies.length),
  };
}

async function loadMessageView(on: Queryable, context: LinkContext): Promise<PatientMessageView> {
  return { context, ...(await loadConversationMessages(on, context.conversation)) };
}

export function replyAllowed(mode: ReplyMode, repliesSoFar: number): boolean {
  return mode === 'conversation' || (mode === 'once' && repliesSoFar === 0);
}

export type ViewMessageResult = AccessProblem | { kind: 'ok'; view: PatientMessageView };

/** The message page; every view is audited as 'message.read'. */
export async function viewPatientMessage(
  services: Services,
  input: { token: string; ip: string; sessionToken?: string },
): Promise<ViewMessageResult> {
  const access = await checkPatientAccess(services, { ...input, need: 'verified' });
  if (access.kind !== 'ok') return access;
  const view = await loadMessageView(services.db, access.context);
  await recordAudit(services.db, { type: 'message.read', actor: patientActor(access.context, input.ip), ...auditSubject(access.context) });
  return { kind: 'ok', view };
}

export type ReplyResult =
  | AccessProblem
  | { kind: 'sent' }
  | { kind: 'invalid'; view: PatientMessageView; message: string; body: string }
  | { kind: 'not_allowed'; view: PatientMessageView };

/**
 * A patient's reply, if the conversation allows one: 'once' allows one in total, 'none' none. The
 * conversation row is locked first, so two replies sent at once cannot both be the "one".
 */
export async function sendPatientReply(
  services: Services,
  input: { token: string; ip: string; sessionToken?: string; body: string },
): Promise<ReplyResult> {
  const access = await checkPatientAccess(services, { ...input, need: 'verified' });
  if (access.kind !== 'ok') return access;
  const { context } = access;
  const saved = await savePatientReply(services, {
    conversation: context.conversation,
    body: input.body,
    audit: { actor: patientActor(context, input.ip), ...auditSubject(context) },
  });
  switch (saved.kind) {
    case 'sent':
      return saved;
    case 'invalid':
      return { kind: 'invalid', view: await loadMessageView(services.db, context), message: saved.message, body: input.body };
    case 'not_allowed':
      return { kind: 'not_allowed', view: await loadMessageView(services.db, context) };
  }
}

export type SaveReplyResult = { kind: 'sent' } | { kind: 'invalid'; message: string } | { kind: 'not_allowed' };

/**
 * Stores a patient's reply, if the conversation allows one: 'once' allows one in total, 'none' none.
 * The conversation row is locked first, so two replies sent at once cannot both be the "one". Used by
 * the link page and the patient portal; the caller has already decided the patient may see it.
 */
export async function savePatientReply(
  services: Services,
  input: { conversation: ConversationRef; body: string; audit: Omit<AuditEvent, 'type' | 'details'> },
): Promise<SaveReplyResult> {
  const parsed = replyBodySchema.safeParse(input.body);
  if (!parsed.success) return { kind: 'invalid', message: parsed.error.issues[0]!.message };
  const conversation = input.conversation;
  const sent = await services.db.transaction(async (tx) => {
    await tx.select({ id: conversations.id }).from(conversations).where(eq(conversations.id, conversation.id)).for('update');
    const [replies] = await tx
      .select({ n: count() })
      .from(conversationItems)
      .where(and(eq(conversationItems.conversationId, conversation.id), eq(conversationItems.kind, 'patient_reply')));
    if (!replyAllowed(conversation.replyMode, Number(replies?.n ?? 0))) return false;
    await tx.insert(conversationItems).values({
      conversationId: conversation.id,
      kind: 'patient_reply',
      body: parsed.data,
      createdAt: services.now(),
    });
    await recordAudit(tx, { ...input.audit, type: 'reply.sent', details: { length: parsed.data.length } });
    return true;
  });
  return sent ? { kind: 'sent' } : { kind: 'not_allowed' };
}

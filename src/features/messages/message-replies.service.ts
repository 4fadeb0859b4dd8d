// What a patient sees of a message and how a reply is stored. Access has been decided by verification
// (the PatientAccess); this file only knows the message's items and its reply mode.
import { z } from 'zod';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import type { PatientAccess } from '../verification/patient-access.ts';
import type { KindConversation } from '../conversations/item-kinds.ts';
import { countItems, findItemByClientKey, insertItem, lockConversation } from '../conversations/conversations.repository.ts';
import type { MessagePayload, ReplyMode } from './message.kind.ts';

export const STAFF_MESSAGE = 'staff_message';
export const PATIENT_REPLY = 'patient_reply';
export const MESSAGE_BODY_MAX = 5000;
export const REPLY_BODY_MAX = 1000;

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

/** The one-time key each rendering of the reply form carries (newSecret(16): 22 URL-safe characters). */
export const replyKeySchema = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/);

export function replyAllowed(mode: ReplyMode, repliesSoFar: number): boolean {
  return mode === 'conversation' || (mode === 'once' && repliesSoFar === 0);
}

export interface MessageItemView {
  body: string;
  createdAt: Date;
}

export interface MessageView {
  replyMode: ReplyMode;
  sentAt: Date;
  message: MessageItemView | undefined;
  replies: MessageItemView[];
  canReply: boolean;
  /** The conversation is readable but takes no reply any more (the portal, after the link expired). */
  ended: boolean;
}

export function messageView(at: KindConversation<MessagePayload>, access: Pick<PatientAccess, 'mayAnswer'>): MessageView {
  const message = at.items.find((i) => i.kind === STAFF_MESSAGE);
  const replies = at.items.filter((i) => i.kind === PATIENT_REPLY);
  const replyMode = at.conversation.payload.replyMode;
  const allowed = replyAllowed(replyMode, replies.length);
  return {
    replyMode,
    sentAt: message?.createdAt ?? at.conversation.createdAt,
    message,
    replies,
    canReply: access.mayAnswer && allowed,
    ended: !access.mayAnswer && allowed,
  };
}

/** Every view of the message is audited as 'message.read', by the link or the NHS login patient. */
export async function recordMessageRead(services: Services, access: PatientAccess): Promise<void> {
  await recordAudit(services.db, { type: 'message.read', actor: access.actor, ...access.subject });
}

export type SaveReplyResult = { kind: 'sent' } | { kind: 'invalid'; message: string } | { kind: 'not_allowed' };

/**
 * Stores a patient's reply, if the conversation allows one: 'once' allows one in total, 'none' none,
 * and none once the patient may no longer answer. The conversation row is locked first, so two replies
 * sent at once cannot both be the "one". A reply whose form key is already stored is the same reply
 * sent again (a double click, or Back and send): it is not stored twice, and the patient is told it
 * was sent, because it was.
 */
export async function savePatientReply(
  services: Services,
  input: { access: PatientAccess; replyMode: ReplyMode; body: string; replyKey: string | undefined },
): Promise<SaveReplyResult> {
  const parsed = replyBodySchema.safeParse(input.body);
  if (!parsed.success) return { kind: 'invalid', message: parsed.error.issues[0]!.message };
  const { access } = input;
  const conversationId = access.conversation.id;
  const clientKey = replyKeySchema.safeParse(input.replyKey).success ? input.replyKey! : null;
  return services.db.transaction(async (tx): Promise<SaveReplyResult> => {
    await lockConversation(tx, conversationId);
    if (clientKey && (await findItemByClientKey(tx, conversationId, clientKey))) return { kind: 'sent' };
    if (!access.mayAnswer || !replyAllowed(input.replyMode, await countItems(tx, conversationId, PATIENT_REPLY))) {
      return { kind: 'not_allowed' };
    }
    await insertItem(tx, { conversationId, kind: PATIENT_REPLY, body: parsed.data, clientKey, createdAt: services.now() });
    await recordAudit(tx, { type: 'reply.sent', actor: access.actor, ...access.subject, details: { length: parsed.data.length } });
    return { kind: 'sent' };
  });
}

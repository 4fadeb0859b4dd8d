// What a patient sees of a message and how a reply is stored. Access has been decided by verification
// (the PatientAccess); this file only knows the message's items and its reply mode.
import { z } from 'zod';
import type { Services } from '../../services.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { recordAudit } from '../audit/audit.service.ts';
import type { PatientAccess } from '../verification/patient-access.ts';
import type { KindConversation } from '../conversations/item-kinds.ts';
import { countItems, countItemsSince, findItemByClientKey, insertItem, lockConversation } from '../conversations/conversations.repository.ts';
import type { MessagePayload, ReplyMode } from './message.kind.ts';
import { attachFiles } from '../files/files.repository.ts';

export const STAFF_MESSAGE = 'staff_message';
export const PATIENT_REPLY = 'patient_reply';
export const MESSAGE_BODY_MAX = 5000;
export const REPLY_BODY_MAX = 1000;

/**
 * How many replies a patient may send (issue 10, item 9: a script stored 5,698 replies in four minutes
 * from one portal session). A person writing to their practice sends a few replies, now and then a few
 * in a row ("and one more thing"); nobody types 5 considered replies a minute or 50 in a day to one
 * conversation, and staff could not read them. The per-conversation limits are counted from the stored
 * replies (sliding windows, under the conversation's lock, so they are exact across instances). The
 * per-patient limits (a link, or one NHS login across all its conversations and sessions) are counted
 * in the shared rate-limit table, in fixed windows.
 */
export const REPLY_LIMITS = {
  perConversation: [
    { max: 5, windowSeconds: 60 },
    { max: 50, windowSeconds: 86_400 },
  ],
  perPatient: [
    { max: 10, windowSeconds: 60 },
    { max: 100, windowSeconds: 86_400 },
  ],
} as const;

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
  id: string;
  body: string;
  createdAt: Date;
}

/** One item of the thread as the patient reads it: from the organisation, or their own reply. */
export interface ThreadItemView extends MessageItemView {
  fromPatient: boolean;
}

export interface MessageView {
  replyMode: ReplyMode;
  sentAt: Date;
  message: MessageItemView | undefined;
  replies: MessageItemView[];
  /**
   * Everything after the first message, in the order it was written (seq): staff replies in a
   * conversation and the patient's replies, interleaved.
   */
  thread: ThreadItemView[];
  /** Staff have replied at least once (the thread is then headed as a conversation, not "Your replies"). */
  staffReplied: boolean;
  canReply: boolean;
  /** The conversation is readable but takes no reply any more (the portal, after the link expired). */
  ended: boolean;
}

export function messageView(at: KindConversation<MessagePayload>, access: Pick<PatientAccess, 'mayAnswer'>): MessageView {
  const message = at.items.find((i) => i.kind === STAFF_MESSAGE);
  const replies = at.items.filter((i) => i.kind === PATIENT_REPLY);
  const thread = at.items
    .filter((i) => i !== message && (i.kind === STAFF_MESSAGE || i.kind === PATIENT_REPLY))
    .map((i) => ({ id: i.id, body: i.body, createdAt: i.createdAt, fromPatient: i.kind === PATIENT_REPLY }));
  const replyMode = at.conversation.payload.replyMode;
  const allowed = replyAllowed(replyMode, replies.length);
  return {
    replyMode,
    sentAt: message?.createdAt ?? at.conversation.createdAt,
    message,
    replies,
    thread,
    staffReplied: thread.some((i) => !i.fromPatient),
    canReply: access.mayAnswer && allowed,
    ended: !access.mayAnswer && allowed,
  };
}

/** Every view of the message is audited as 'message.read', by the link or the NHS login patient. */
export async function recordMessageRead(services: Services, access: PatientAccess): Promise<void> {
  await recordAudit(services.db, { type: 'message.read', actor: access.actor, ...access.subject });
}

export type SaveReplyResult =
  | { kind: 'sent' }
  | { kind: 'invalid'; message: string }
  | { kind: 'not_allowed' }
  /** Too many replies for now: nothing was stored; `retryAt` is when one more is taken. */
  | { kind: 'limited'; retryAt: Date; window: 'minutes' | 'day' };

type ReplyLimitHit = Extract<SaveReplyResult, { kind: 'limited' }>;

function limitedUntil(retryAt: Date, windowSeconds: number): ReplyLimitHit {
  return { kind: 'limited', retryAt, window: windowSeconds >= 86_400 ? 'day' : 'minutes' };
}

/**
 * The patient's counters, one per window, in the shared rate-limit table. Taken before the reply's
 * transaction (they are their own statements) and given back if the reply is not stored after all.
 */
function patientReplyCounters(services: Services, access: PatientAccess) {
  const keyOf = (windowSeconds: number) => `patient-replies:${access.actor.type}:${access.actor.id}:${windowSeconds}`;
  const taken: number[] = [];
  return {
    async take(): Promise<ReplyLimitHit | undefined> {
      for (const { max, windowSeconds } of REPLY_LIMITS.perPatient) {
        const hit = await services.rateLimiter.hit(keyOf(windowSeconds), max, windowSeconds);
        taken.push(windowSeconds);
        if (!hit.allowed) return limitedUntil(new Date(services.now().getTime() + hit.retryAfterSeconds * 1000), windowSeconds);
      }
      return undefined;
    },
    async giveBack(): Promise<void> {
      for (const windowSeconds of taken.splice(0)) await services.rateLimiter.refund(keyOf(windowSeconds), windowSeconds);
    },
  };
}

/** Within the reply's transaction, after lockConversation: has the conversation had its fill for now? */
async function conversationReplyLimit(on: Queryable, conversationId: string, now: Date): Promise<ReplyLimitHit | undefined> {
  for (const { max, windowSeconds } of REPLY_LIMITS.perConversation) {
    const since = new Date(now.getTime() - windowSeconds * 1000);
    const { count, oldest } = await countItemsSince(on, conversationId, PATIENT_REPLY, since);
    // The oldest reply in the window leaving it makes room for one more.
    if (count >= max) return limitedUntil(new Date((oldest ?? now).getTime() + windowSeconds * 1000), windowSeconds);
  }
  return undefined;
}

/**
 * Stores a patient's reply, if the conversation allows one: 'once' allows one in total, 'none' none,
 * and none once the patient may no longer answer; and none beyond REPLY_LIMITS. The conversation row
 * is locked first, so two replies sent at once cannot both be the "one" (or both slip under a limit).
 * A reply whose form key is already stored is the same reply sent again (a double click, or Back and
 * send): it is not stored twice, and the patient is told it was sent, because it was.
 */
export async function savePatientReply(
  services: Services,
  input: {
    access: PatientAccess;
    replyMode: ReplyMode;
    body: string;
    replyKey: string | undefined;
    /** Files added to this reply's form (drafts under its key): they go with it, in its transaction. */
    attachmentIds?: readonly string[];
  },
): Promise<SaveReplyResult> {
  const attachmentIds = input.attachmentIds ?? [];
  // A photo can be the whole reply; words alone or with files are checked as ever.
  const parsed = attachmentIds.length > 0 && input.body.trim() === '' ? { success: true as const, data: '' } : replyBodySchema.safeParse(input.body);
  if (!parsed.success) return { kind: 'invalid', message: parsed.error.issues[0]!.message };
  const { access } = input;
  const conversationId = access.conversation.id;
  const clientKey = replyKeySchema.safeParse(input.replyKey).success ? input.replyKey! : null;
  const patientCounters = patientReplyCounters(services, access);
  const patientLimited = await patientCounters.take();
  if (patientLimited) {
    await patientCounters.giveBack();
    // The same form sent again (a double click on the reply that reached the limit) was sent.
    if (clientKey && (await findItemByClientKey(services.db, conversationId, clientKey))) return { kind: 'sent' };
    return patientLimited;
  }
  const result = await services.db.transaction(async (tx): Promise<SaveReplyResult | { kind: 'stored' }> => {
    await lockConversation(tx, conversationId);
    if (clientKey && (await findItemByClientKey(tx, conversationId, clientKey))) return { kind: 'sent' };
    if (!access.mayAnswer || !replyAllowed(input.replyMode, await countItems(tx, conversationId, PATIENT_REPLY))) {
      return { kind: 'not_allowed' };
    }
    const now = services.now();
    const conversationLimited = await conversationReplyLimit(tx, conversationId, now);
    if (conversationLimited) return conversationLimited;
    const item = await insertItem(tx, { conversationId, kind: PATIENT_REPLY, body: parsed.data, clientKey, createdAt: now });
    const attached = await attachFiles(tx, { fileIds: attachmentIds, conversationId, itemId: item!.id });
    await recordAudit(tx, { type: 'reply.sent', actor: access.actor, ...access.subject, details: { length: parsed.data.length, attachments: attached } });
    return { kind: 'stored' };
  });
  if (result.kind === 'stored') return { kind: 'sent' };
  // Nothing new was stored (the same form again, not allowed, or the conversation's limit).
  await patientCounters.giveBack();
  return result;
}

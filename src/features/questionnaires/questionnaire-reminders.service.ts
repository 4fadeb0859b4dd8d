// Reminders for questionnaires not sent back: a text on day 3 and on day 6 after sending, from the
// maintenance job (every instance runs it, on a timer).
//
// - Never twice: each reminder is a row of conversation_reminders (primary key: conversation and
//   reminder), inserted in the same transaction as the text it queues. A second run, or a run on
//   another instance at the same moment, finds the row and sends nothing.
// - A reminder carries a fresh link (the first link's token exists only in the first text) that
//   closes at the same instant as the link it follows: a reminder never keeps a questionnaire open
//   longer. Earlier links keep working.
// - Only while it is worth it: not submitted, its current link live (not revoked, not expired, no link
//   of the conversation locked) and open for at least REMINDER_MIN_HOURS_OPEN more hours. A job that was
//   down sends only the latest reminder due and records the earlier one as skipped, so it never goes late.
// - Reminders are not new conversations: they do not count against the organisation's daily send limit.
import { and, eq, sql } from 'drizzle-orm';
import type { Services } from '../../services.ts';
import { queryRows, type Queryable } from '../../platform/db/client.ts';
import { conversationReminders } from '../../platform/db/schema.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { issueLink, linkUrl, lockConversationForLinks } from '../links/links.service.ts';
import { enqueueSms } from '../sms/outbox.service.ts';
import { CLOSES_AFTER_DAYS_MAX, questionnaireKind } from './questionnaire.kind.ts';

/** The schedule, earliest first: each reminder's name (its row in conversation_reminders) and day. */
export const QUESTIONNAIRE_REMINDERS = [
  { reminder: 'day-3', afterDays: 3 },
  { reminder: 'day-6', afterDays: 6 },
] as const;
export type QuestionnaireReminder = (typeof QUESTIONNAIRE_REMINDERS)[number]['reminder'];

/** A reminder that leaves less than this to fill the questionnaire in would only annoy: none is sent. */
export const REMINDER_MIN_HOURS_OPEN = 12;

/** Conversations a run handles at most; the rest wait for the next run (minutes later). */
export const REMINDER_BATCH = 500;

interface DueReminder {
  conversation_id: string;
  organisation_id: string;
  organisation_name: string;
  patient_id: string;
  due: QuestionnaireReminder;
  link_expires_at: Date | string;
  phone_e164: string;
}

/**
 * The conversations with a reminder due now, in one statement: each with the latest reminder of the
 * schedule it has reached, if that one is not recorded yet, and the current link (the newest not
 * revoked) whose expiry the reminder's link copies. With `conversationId`, only that conversation (the
 * check made again under its lock, just before sending).
 *
 * Conversations sent more than CLOSES_AFTER_DAYS_MAX days ago are not looked at: their first link has
 * closed, and a day-6 reminder weeks later (after a re-send) would not be a day-6 reminder.
 */
export async function findDueQuestionnaireReminders(
  on: Queryable,
  input: { now: Date; limit: number; conversationId?: string },
): Promise<DueReminder[]> {
  const now = sql`${input.now.toISOString()}::timestamptz`;
  const [first, second] = QUESTIONNAIRE_REMINDERS;
  const onlyThis = input.conversationId ? sql`AND c.id = ${input.conversationId}::uuid` : sql``;
  return queryRows<DueReminder>(
    on,
    sql`
    WITH due AS (
      SELECT c.id, c.organisation_id, c.patient_id, c.created_at,
             CASE WHEN c.created_at <= ${now} - make_interval(days => ${second.afterDays}) THEN ${second.reminder}
                  ELSE ${first.reminder} END AS due
      FROM conversations c
      WHERE c.kind = ${questionnaireKind.name}
        AND c.created_at <= ${now} - make_interval(days => ${first.afterDays})
        AND c.created_at > ${now} - make_interval(days => ${CLOSES_AFTER_DAYS_MAX})
        ${onlyThis}
    )
    SELECT d.id AS conversation_id, d.organisation_id, o.name AS organisation_name, d.patient_id, d.due,
           l.expires_at AS link_expires_at, l.phone_e164
    FROM due d
    JOIN organisations o ON o.id = d.organisation_id
    JOIN patients p ON p.id = d.patient_id
    CROSS JOIN LATERAL (
      SELECT expires_at, phone_e164 FROM links
      WHERE conversation_id = d.id AND revoked_at IS NULL
      ORDER BY created_at DESC, id DESC LIMIT 1
    ) l
    WHERE l.expires_at > ${now} + make_interval(hours => ${REMINDER_MIN_HOURS_OPEN})
      -- The number the questionnaire went to is still the patient's: after a change, staff re-send.
      AND l.phone_e164 = p.mobile_e164
      AND NOT EXISTS (SELECT 1 FROM conversation_reminders r WHERE r.conversation_id = d.id AND r.reminder = d.due)
      AND NOT EXISTS (SELECT 1 FROM questionnaire_responses q WHERE q.conversation_id = d.id AND q.submitted_at IS NOT NULL)
      -- A locked link opens again only when staff re-send; a reminder's new link must not get round that.
      AND NOT EXISTS (
        SELECT 1 FROM links x
        WHERE x.conversation_id = d.id AND x.revoked_at IS NULL AND x.expires_at > ${now}
          AND (x.locked_permanently_at IS NOT NULL OR x.locked_until > ${now})
      )
    ORDER BY d.created_at, d.id
    LIMIT ${input.limit}`,
  );
}

/** "5:29pm on 9 December": when it closes, as the UK reads it. */
const ukClock = new Intl.DateTimeFormat('en-GB', { hour: 'numeric', minute: '2-digit', hour12: true, timeZone: 'Europe/London' });
const ukDay = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', timeZone: 'Europe/London' });
export function closingWords(closes: Date): string {
  // Intl puts a narrow no-break space before "pm": not in the GSM-7 alphabet, and NHS style writes "5:29pm".
  return `${ukClock.format(closes).replace(/\s/g, '').toLowerCase()} on ${ukDay.format(closes)}`;
}

/** Sends the reminders due now (at most REMINDER_BATCH); returns how many were queued. */
export async function sendDueQuestionnaireReminders(services: Pick<Services, 'db' | 'jobs' | 'now' | 'config'>): Promise<number> {
  const now = services.now();
  const due = await findDueQuestionnaireReminders(services.db, { now, limit: REMINDER_BATCH });
  let sent = 0;
  for (const candidate of due) {
    if (await sendReminder(services, candidate.conversation_id, now)) sent++;
  }
  return sent;
}

/**
 * One conversation's reminder, in one transaction. The conversation's row is held first (as revoking
 * does), and only then is it checked again: a revoke or another run that got there first is seen, and
 * a revoke that comes after waits for this link and revokes it too.
 */
async function sendReminder(services: Pick<Services, 'db' | 'jobs' | 'config'>, conversationId: string, now: Date): Promise<boolean> {
  return services.db.transaction(async (tx) => {
    if (!(await lockConversationForLinks(tx, conversationId))) return false;
    const [due] = await findDueQuestionnaireReminders(tx, { now, limit: 1, conversationId });
    if (!due) return false;
    // Earlier reminders not sent by now were missed (the job was down): recorded, so they never go late.
    const earlier = QUESTIONNAIRE_REMINDERS.filter((r) => r.afterDays < afterDaysOf(due.due)).map((r) => r.reminder);
    const claimed = await tx
      .insert(conversationReminders)
      .values([...earlier, due.due].map((reminder) => ({ conversationId, reminder, createdAt: now })))
      .onConflictDoNothing()
      .returning({ reminder: conversationReminders.reminder });
    // Under the lock nobody else can have recorded it; the key is the rule all the same.
    if (!claimed.some((r) => r.reminder === due.due)) return false;
    const skipped = claimed.map((r) => r.reminder).filter((r) => r !== due.due);

    const closes = new Date(due.link_expires_at);
    const { link, token } = await issueLink(tx, { conversationId, phoneE164: due.phone_e164, expiresAt: closes, now, besideLiveLinks: true });
    const sms = await enqueueSms(tx, services.jobs, {
      organisationId: due.organisation_id,
      conversationId,
      linkId: link.id,
      kind: 'reminder',
      phoneE164: due.phone_e164,
      personalisation: {
        organisation_name: due.organisation_name,
        thing: questionnaireKind.words.thing,
        closes: closingWords(closes),
        link: linkUrl(services.config.publicBaseUrl, token),
      },
    });
    await tx
      .update(conversationReminders)
      .set({ outboundSmsId: sms.id })
      .where(and(eq(conversationReminders.conversationId, conversationId), eq(conversationReminders.reminder, due.due)));
    await recordAudit(tx, {
      type: 'questionnaire.reminder_sent',
      actor: { type: 'system', id: 'maintenance' },
      organisationId: due.organisation_id,
      patientId: due.patient_id,
      conversationId,
      linkId: link.id,
      details: { reminder: due.due, ...(skipped.length > 0 && { skipped }), closes: closes.toISOString() },
    });
    return true;
  });
}

function afterDaysOf(reminder: QuestionnaireReminder): number {
  return QUESTIONNAIRE_REMINDERS.find((r) => r.reminder === reminder)!.afterDays;
}

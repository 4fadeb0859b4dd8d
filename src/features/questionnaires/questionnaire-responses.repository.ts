// The SQL of questionnaire answers (questionnaire_responses) and of a conversation's urgent flag. Every
// write is one statement that decides for itself whether it may happen (not yet submitted; the revision
// the patient saw), so two tabs, a double tap or a retried request cannot lose or overwrite answers.
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Queryable } from '../../platform/db/client.ts';
import { conversations, questionnaireResponses } from '../../platform/db/schema.ts';
import type { AnswerValue } from './definition.ts';

export type StoredResponse = typeof questionnaireResponses.$inferSelect;

export async function findResponse(on: Queryable, conversationId: string): Promise<StoredResponse | undefined> {
  const [row] = await on.select().from(questionnaireResponses).where(eq(questionnaireResponses.conversationId, conversationId));
  return row;
}

export interface SaveAnswerInput {
  conversationId: string;
  organisationId: string;
  questionnaireUrl: string;
  questionnaireVersion: string;
  linkId: string;
  /** Empty: the question was left unanswered (an optional one), so any earlier answer is removed. */
  values: readonly AnswerValue[];
  now: Date;
}

/**
 * Saves one question's answer, merged into the stored answers inside the statement (not read, changed
 * and written back), so saves from two tabs to different questions both survive. Undefined once the
 * questionnaire has been submitted: nothing changes then.
 */
export async function saveAnswer(on: Queryable, input: SaveAnswerInput): Promise<StoredResponse | undefined> {
  const values = JSON.stringify(input.values);
  const first = input.values.length > 0 ? sql`jsonb_build_object(${input.linkId}::text, ${values}::jsonb)` : sql`'{}'::jsonb`;
  const merged =
    input.values.length > 0
      ? sql`${questionnaireResponses.answers} || jsonb_build_object(${input.linkId}::text, ${values}::jsonb)`
      : sql`${questionnaireResponses.answers} - ${input.linkId}::text`;
  const [row] = await on
    .insert(questionnaireResponses)
    .values({
      conversationId: input.conversationId,
      organisationId: input.organisationId,
      questionnaireUrl: input.questionnaireUrl,
      questionnaireVersion: input.questionnaireVersion,
      answers: first,
      revision: 1,
      startedAt: input.now,
      updatedAt: input.now,
    })
    .onConflictDoUpdate({
      target: questionnaireResponses.conversationId,
      set: { answers: merged, revision: sql`${questionnaireResponses.revision} + 1`, updatedAt: input.now },
      setWhere: isNull(questionnaireResponses.submittedAt),
    })
    .returning();
  return row;
}

/**
 * Marks the response submitted with its final answers, only if nothing was saved since the patient's
 * Check your answers page was drawn (`revision`) and it was not submitted already. Undefined otherwise.
 */
export async function markSubmitted(
  on: Queryable,
  input: { conversationId: string; revision: number; answers: Record<string, unknown>; now: Date },
): Promise<StoredResponse | undefined> {
  const [row] = await on
    .update(questionnaireResponses)
    .set({ answers: input.answers, submittedAt: input.now, updatedAt: input.now })
    .where(
      and(
        eq(questionnaireResponses.conversationId, input.conversationId),
        eq(questionnaireResponses.revision, input.revision),
        isNull(questionnaireResponses.submittedAt),
      ),
    )
    .returning();
  return row;
}

/** Creates the (empty) response of a questionnaire submitted without a saved page, if there is none. */
export async function ensureResponse(
  on: Queryable,
  input: { conversationId: string; organisationId: string; questionnaireUrl: string; questionnaireVersion: string; now: Date },
): Promise<void> {
  await on
    .insert(questionnaireResponses)
    .values({ ...input, answers: {}, revision: 0, startedAt: input.now, updatedAt: input.now })
    .onConflictDoNothing({ target: questionnaireResponses.conversationId });
}

/** Flags the conversation urgent, keeping the time it was first flagged. */
export async function flagConversationUrgent(on: Queryable, conversationId: string, now: Date): Promise<void> {
  await on
    .update(conversations)
    .set({ urgentSince: now })
    .where(and(eq(conversations.id, conversationId), isNull(conversations.urgentSince)));
}

// One-time submission ids for staff send forms: a double tap, a retried request or Back-and-resubmit
// sends once. Each form page carries a fresh id; the send claims it for the staff member and records
// where it led, so a second post of the same id goes to the first one's result instead of sending again.
import { randomBytes } from 'node:crypto';
import { and, eq, lt } from 'drizzle-orm';
import { z } from 'zod';
import type { Queryable, Tx } from '../../platform/db/client.ts';
import { staffSubmissions } from '../../platform/db/schema.ts';
import { DomainError } from '../../platform/errors.ts';

/** Long enough to cover Back-and-resubmit from a page left open over a weekend; claims are only ever looked up by id. */
export const SUBMISSIONS_KEPT_MS = 7 * 86_400_000;

/** A send form's one-time id: 128 bits, URL-safe, made when the form page is rendered. */
export function newSubmissionId(): string {
  return randomBytes(16).toString('base64url');
}

export const submissionIdSchema = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/);

/** Whose claim it is: the primary key is (staff member, id), so one person's id never blocks another's send. */
export interface Submission {
  staffUserId: string;
  submissionId: string;
}

/**
 * The id was sent before (and that send committed): nothing more is done, and the caller goes where the
 * first post went. Thrown inside the send transaction so everything it had started rolls back.
 */
export class DuplicateSubmission extends DomainError {
  readonly resultUrl: string | null;
  constructor(resultUrl: string | null) {
    super('This has been sent already', 'duplicate staff submission');
    this.resultUrl = resultUrl;
  }
}

export type Claim = { claimed: true } | { claimed: false; resultUrl: string | null };

/**
 * Claims the id for this staff member. It must be the FIRST statement inside the SAME transaction as the
 * send: a concurrent post of the same id then waits on the primary key until the first transaction
 * commits (its INSERT does nothing, and the SELECT that follows, a new statement in READ COMMITTED,
 * sees the first one's resultUrl) or rolls back (its INSERT goes in, and it sends itself). Claiming in a
 * transaction of its own would leave a claim behind a send that failed, and the form could never be
 * sent again. First, so a duplicate counts nothing towards the day's send limit and takes no other lock.
 */
export async function claimSubmission(tx: Tx, staffUserId: string, submissionId: string, now: Date): Promise<Claim> {
  const inserted = await tx
    .insert(staffSubmissions)
    .values({ staffUserId, submissionId, createdAt: now })
    .onConflictDoNothing()
    .returning({ submissionId: staffSubmissions.submissionId });
  if (inserted.length > 0) return { claimed: true };
  const [existing] = await tx
    .select({ resultUrl: staffSubmissions.resultUrl })
    .from(staffSubmissions)
    .where(and(eq(staffSubmissions.staffUserId, staffUserId), eq(staffSubmissions.submissionId, submissionId)));
  return { claimed: false, resultUrl: existing?.resultUrl ?? null };
}

/** Claims the id or throws DuplicateSubmission: the one line a send transaction starts with. */
export async function claimOrThrow(tx: Tx, submission: Submission, now: Date): Promise<void> {
  const claim = await claimSubmission(tx, submission.staffUserId, submission.submissionId, now);
  if (!claim.claimed) throw new DuplicateSubmission(claim.resultUrl);
}

/** Where the send led, recorded before its transaction commits, for a duplicate to be sent to. */
export async function recordSubmissionResult(tx: Tx, staffUserId: string, submissionId: string, resultUrl: string): Promise<void> {
  await tx
    .update(staffSubmissions)
    .set({ resultUrl })
    .where(and(eq(staffSubmissions.staffUserId, staffUserId), eq(staffSubmissions.submissionId, submissionId)));
}

/** Claims older than a week: no form page is resubmitted that late, and its id is then only clutter. */
export async function deleteOldSubmissions(db: Queryable, now: Date): Promise<number> {
  const deleted = await db
    .delete(staffSubmissions)
    .where(lt(staffSubmissions.createdAt, new Date(now.getTime() - SUBMISSIONS_KEPT_MS)))
    .returning({ submissionId: staffSubmissions.submissionId });
  return deleted.length;
}

/** Where a duplicate goes: the first post's result, or the inbox if (defensively) there is none. */
export function duplicateRedirect(error: DuplicateSubmission): string {
  return error.resultUrl ?? '/staff';
}

/**
 * A send form page's id from its address (`?form=…`), or a new one. Links to the form pages carry a
 * fresh id, so the address names the submission: Back after sending fetches the page again (pages with
 * patient data are no-store, so nothing is kept to go back to) and gets the same id, and sending again
 * leads to what the first send made instead of making it twice.
 */
export function formSubmissionId(query: unknown): string {
  const parsed = submissionIdSchema.safeParse((query as Record<string, unknown> | null | undefined)?.form);
  return parsed.success ? parsed.data : newSubmissionId();
}

/** A fresh id for each send form a page links to (`?form=` on the link). */
export function sendFormIds(): { message: string; questionnaire: string; booking: string; document: string } {
  return { message: newSubmissionId(), questionnaire: newSubmissionId(), booking: newSubmissionId(), document: newSubmissionId() };
}

/** Where an id's send led, if it has been sent: the form page says so, with the way there. */
export async function submissionResult(db: Queryable, staffUserId: string, submissionId: string): Promise<string | null> {
  const [row] = await db
    .select({ resultUrl: staffSubmissions.resultUrl })
    .from(staffSubmissions)
    .where(and(eq(staffSubmissions.staffUserId, staffUserId), eq(staffSubmissions.submissionId, submissionId)));
  return row?.resultUrl ?? null;
}

/** The words on a send form posted without a valid id (an old page, or one altered). */
export const EXPIRED_FORM_MESSAGE = 'This page has expired. Check the details and send again';

/**
 * A send form's id from its body: the id, or null when it is missing or not one of ours (then nothing is
 * sent and the form is shown again with a new id and EXPIRED_FORM_MESSAGE).
 */
export function submittedId(body: unknown): string | null {
  const value = (body as Record<string, unknown> | null | undefined)?.submissionId;
  const parsed = submissionIdSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

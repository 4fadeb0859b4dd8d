// Housekeeping: rows that have done their job are deleted, so tables that every request touches stay
// small and nothing about a patient's visit is kept longer than it is useful (UK GDPR storage
// limitation). Every instance runs it on a timer; each step is one idempotent DELETE, so instances
// running it at the same moment do no harm and no coordination is needed.
//
// Not deleted here, on purpose: audit events (append-only by trigger; retention is the organisation's
// records policy), conversations and their texts (the clinical record), and security codes (kept as
// HMACs only, and their history is what the per-link code limits count).
//
// The same timer texts the reminders that are due (questionnaires not sent back): each is claimed by
// a row whose primary key says "once", so instances running it together still send one.
import type { Services } from '../../services.ts';
import { deleteExpiredRateLimitWindows } from '../../platform/http/rate-limiter.ts';
import { deleteExpiredStaffSessions } from '../staff/staff-sessions.service.ts';
import { deleteEndedPatientSessions } from '../verification/patient-sessions.service.ts';
import { deleteOldNhsLoginTransactions } from '../nhs-login/nhs-login.service.ts';
import { sendDueQuestionnaireReminders } from '../questionnaires/questionnaire-reminders.service.ts';
import { sendBookingReminders } from '../booking/booking-reminders.service.ts';
import { deleteExpiredFiles } from '../files/file-retention.service.ts';
import { deleteViewersSeenBefore } from '../conversations/conversations.repository.ts';
import { deleteIdempotencyKeysCreatedBefore } from '../api/api-idempotency.repository.ts';
import { IDEMPOTENCY_KEPT_MS } from '../api/api-idempotency.service.ts';
import { deleteOldSubmissions } from '../staff/staff-submissions.ts';

/** "Also viewing" looks back 2 minutes; rows much older than that only take up room. */
const VIEWER_ROWS_KEPT_MS = 10 * 60_000;

export interface MaintenanceReport {
  rateLimitWindows: number;
  staffSessions: number;
  patientSessions: number;
  nhsLoginTransactions: number;
  /** Reminder texts queued (not a deletion). */
  questionnaireReminders: number;
  /** Day-before appointment reminders queued. */
  bookingReminders: number;
  /** Documents whose bytes were deleted once their time was up. */
  expiredDocuments: number;
  /** Attachments and documents added to a form never sent, deleted after a day. */
  abandonedFiles: number;
  /** Conversation viewer rows ("Also viewing") not refreshed for 10 minutes. */
  conversationViewers: number;
  /** Send forms' one-time ids claimed more than 7 days ago. */
  staffSubmissions: number;
  /** API Idempotency-Keys past their 24 hours (a key that old would be new again anyway). */
  idempotencyKeys: number;
}

export interface MaintenanceLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export async function runMaintenance(services: Services): Promise<MaintenanceReport> {
  const now = services.now();
  const report = {
    rateLimitWindows: await deleteExpiredRateLimitWindows(services.db, now),
    staffSessions: await deleteExpiredStaffSessions(services.db, now),
    patientSessions: await deleteEndedPatientSessions(services.db, now),
    nhsLoginTransactions: await deleteOldNhsLoginTransactions({ db: services.db, now: services.now }),
    questionnaireReminders: await sendDueQuestionnaireReminders(services),
    bookingReminders: await sendBookingReminders(services),
    conversationViewers: await deleteViewersSeenBefore(services.db, new Date(now.getTime() - VIEWER_ROWS_KEPT_MS)),
    staffSubmissions: await deleteOldSubmissions(services.db, now),
    idempotencyKeys: await deleteIdempotencyKeysCreatedBefore(services.db, new Date(now.getTime() - IDEMPOTENCY_KEPT_MS)),
  };
  // After the texts: a file store that is away must not hold up a reminder.
  const files = await deleteExpiredFiles(services);
  return { ...report, expiredDocuments: files.documents, abandonedFiles: files.drafts };
}

/**
 * Runs maintenance soon after start and then every `intervalMinutes`. A failed run (the database
 * away, say) is logged and the next one tries again. Returns how to stop it (waits for a run in progress).
 */
export function startMaintenance(services: Services, options: { intervalMinutes: number; log: MaintenanceLog; firstRunAfterMs?: number }): () => Promise<void> {
  let running: Promise<void> | undefined;
  const run = () => {
    if (running) return;
    running = runMaintenance(services)
      .then((deleted) => options.log.info({ deleted }, 'maintenance done'))
      .catch((error: unknown) => options.log.error({ errName: (error as Error)?.name, errMessage: (error as Error)?.message }, 'maintenance failed; will try again'))
      .finally(() => (running = undefined));
  };
  const first = setTimeout(run, options.firstRunAfterMs ?? 30_000);
  const every = setInterval(run, options.intervalMinutes * 60_000);
  // Housekeeping never keeps a process alive on its own.
  first.unref();
  every.unref();
  return async () => {
    clearTimeout(first);
    clearInterval(every);
    await running;
  };
}

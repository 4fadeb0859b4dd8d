// What the maintenance job deletes of files: a document's bytes once its time to be opened is up
// (DOCUMENT_AVAILABLE_DAYS), and drafts nobody sent (a reply abandoned with photos added, a document
// form left). The record of each file stays, marked deleted; so does the audit trail. Deleting from the
// store first and marking the row after makes a crash between the two harmless: the next run deletes
// an absent object (idempotent) and marks the row. Instances running it together do the same.
import type { Services } from '../../services.ts';
import { abandonedDrafts, documentsPastAvailability } from './files.repository.ts';
import { deleteFileBytes } from './file-intake.service.ts';

/** A draft older than this was abandoned: a reply form is not kept open for a day. */
export const DRAFT_KEPT_HOURS = 24;
const BATCH = 200;

export async function deleteExpiredFiles(services: Services): Promise<{ documents: number; drafts: number }> {
  const now = services.now();
  const system = { type: 'system' as const };
  let documents = 0;
  let drafts = 0;
  for (const file of await documentsPastAvailability(services.db, now, BATCH)) {
    await deleteFileBytes(services, file, 'expired', system);
    documents += 1;
  }
  // A questionnaire is open at most 28 days (QUESTIONNAIRE_LINK_TTL_DAYS' ceiling); its answer files wait a day more.
  const questionnairesBefore = new Date(now.getTime() - 29 * 86_400_000);
  for (const file of await abandonedDrafts(services.db, new Date(now.getTime() - DRAFT_KEPT_HOURS * 3_600_000), BATCH, questionnairesBefore)) {
    await deleteFileBytes(services, file, 'abandoned', system);
    drafts += 1;
  }
  return { documents, drafts };
}

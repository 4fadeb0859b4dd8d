// The files table's SQL: a file's record, the drafts a form shows back, attaching them to what was
// sent, and the maintenance job's searches. Every read is scoped by organisation or conversation: a
// file id alone never finds a file.
import { and, asc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Queryable } from '../../platform/db/client.ts';
import { files } from '../../platform/db/schema.ts';

export type FileRow = typeof files.$inferSelect;
export type NewFileRow = typeof files.$inferInsert;
export type FilePurpose = 'document' | 'attachment';

export async function insertFile(on: Queryable, row: NewFileRow): Promise<FileRow> {
  const [inserted] = await on.insert(files).values(row).returning();
  return inserted!;
}

export async function findOrganisationFile(on: Queryable, organisationId: string, fileId: string): Promise<FileRow | undefined> {
  const [row] = await on.select().from(files).where(and(eq(files.id, fileId), eq(files.organisationId, organisationId)));
  return row;
}

export async function findConversationFile(on: Queryable, conversationId: string, fileId: string): Promise<FileRow | undefined> {
  const [row] = await on.select().from(files).where(and(eq(files.id, fileId), eq(files.conversationId, conversationId)));
  return row;
}

/** The files a conversation's items carry (sent ones, not drafts), oldest first. */
export async function conversationFiles(on: Queryable, conversationId: string): Promise<FileRow[]> {
  return on
    .select()
    .from(files)
    .where(and(eq(files.conversationId, conversationId), sql`${files.itemId} IS NOT NULL`))
    .orderBy(asc(files.createdAt), asc(files.id));
}

/** A patient's reply form's files so far (added, not yet sent), oldest first. */
export async function patientDraftFiles(on: Queryable, conversationId: string, draftKey: string): Promise<FileRow[]> {
  return on
    .select()
    .from(files)
    .where(and(eq(files.conversationId, conversationId), eq(files.draftKey, draftKey), isNull(files.itemId), isNull(files.deletedAt)))
    .orderBy(asc(files.createdAt), asc(files.id));
}

/** Files added to a conversation's forms and not sent (or removed) yet. */
export async function countUnsentFiles(on: Queryable, conversationId: string): Promise<number> {
  const [row] = await on
    .select({ n: sql<number>`count(*)`.mapWith(Number) })
    .from(files)
    .where(and(eq(files.conversationId, conversationId), isNull(files.itemId), isNull(files.deletedAt)));
  return row?.n ?? 0;
}

/** A staff member's document form's file so far (sending not finished), newest first. */
export async function staffDraftFiles(on: Queryable, organisationId: string, staffId: string, draftKey: string): Promise<FileRow[]> {
  return on
    .select()
    .from(files)
    .where(
      and(
        eq(files.organisationId, organisationId),
        eq(files.uploadedByStaffId, staffId),
        eq(files.draftKey, draftKey),
        isNull(files.itemId),
        isNull(files.deletedAt),
      ),
    )
    .orderBy(asc(files.createdAt), asc(files.id));
}

/**
 * Inside the send's transaction: the drafts become the item's files. Only drafts still unattached and
 * undeleted are taken, so a draft removed in another tab (or cleared by maintenance) is not sent.
 */
export async function attachFiles(on: Queryable, input: { fileIds: readonly string[]; conversationId: string; itemId: string }): Promise<number> {
  if (input.fileIds.length === 0) return 0;
  const updated = await on
    .update(files)
    .set({ conversationId: input.conversationId, itemId: input.itemId, draftKey: null })
    .where(and(inArray(files.id, [...input.fileIds]), isNull(files.itemId), isNull(files.deletedAt)))
    .returning({ id: files.id });
  return updated.length;
}

export async function markFileDeleted(on: Queryable, fileId: string, at: Date): Promise<void> {
  await on.update(files).set({ deletedAt: at }).where(and(eq(files.id, fileId), isNull(files.deletedAt)));
}

/** Documents whose time is up and whose bytes are still stored (the maintenance job deletes them). */
export async function documentsPastAvailability(on: Queryable, now: Date, limit: number): Promise<FileRow[]> {
  return on
    .select()
    .from(files)
    .where(and(isNull(files.deletedAt), lt(files.availableUntil, now)))
    .orderBy(asc(files.availableUntil))
    .limit(limit);
}

/**
 * Drafts never sent (a reply abandoned, a document form left) since before `before`; a questionnaire's
 * answer files (draft keys 'questionnaire-…') wait until `questionnairesBefore`, as a questionnaire
 * stays open for weeks with its answers saved page by page.
 */
export async function abandonedDrafts(on: Queryable, before: Date, limit: number, questionnairesBefore: Date = before): Promise<FileRow[]> {
  return on
    .select()
    .from(files)
    .where(
      and(
        isNull(files.deletedAt),
        isNull(files.itemId),
        lt(files.createdAt, before),
        sql`(${files.draftKey} IS NULL OR ${files.draftKey} NOT LIKE 'questionnaire-%' OR ${files.createdAt} < ${questionnairesBefore})`,
      ),
    )
    .orderBy(asc(files.createdAt))
    .limit(limit);
}

/** Re-wrapping the data keys under the newest key (rotation): the files sealed under any other key. */
export async function filesSealedWithOtherKeys(on: Queryable, currentKeyId: string, limit: number): Promise<FileRow[]> {
  return on
    .select()
    .from(files)
    .where(and(isNull(files.deletedAt), sql`${files.encryptionKeyId} <> ${currentKeyId}`))
    .limit(limit);
}

export async function updateWrappedKey(on: Queryable, fileId: string, sealed: { keyId: string; wrappedKey: string }): Promise<void> {
  await on.update(files).set({ encryptionKeyId: sealed.keyId, wrappedKey: sealed.wrappedKey }).where(eq(files.id, fileId));
}

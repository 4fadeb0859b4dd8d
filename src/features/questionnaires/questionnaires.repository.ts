// The SQL for organisations' own questionnaires. Rows are only inserted, never updated (migration 0010
// refuses an UPDATE): a response must always find the exact version it answered.
import { and, desc, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../../platform/db/client.ts';
import { questionnaires } from '../../platform/db/schema.ts';

export type StoredQuestionnaire = typeof questionnaires.$inferSelect;
export type NewQuestionnaire = Omit<typeof questionnaires.$inferInsert, 'id' | 'createdAt'>;

/** Inserts the version, or returns undefined when the organisation already has this url|version. */
export async function insertQuestionnaire(on: Queryable, values: NewQuestionnaire): Promise<StoredQuestionnaire | undefined> {
  const [row] = await on.insert(questionnaires).values(values).onConflictDoNothing().returning();
  return row;
}

export async function findQuestionnaireVersion(
  on: Queryable,
  organisationId: string,
  url: string,
  version: string,
): Promise<StoredQuestionnaire | undefined> {
  const [row] = await on
    .select()
    .from(questionnaires)
    .where(and(eq(questionnaires.organisationId, organisationId), eq(questionnaires.url, url), eq(questionnaires.version, version)));
  return row;
}

export async function findQuestionnaireById(on: Queryable, organisationId: string, id: string): Promise<StoredQuestionnaire | undefined> {
  const [row] = await on
    .select()
    .from(questionnaires)
    .where(and(eq(questionnaires.organisationId, organisationId), eq(questionnaires.id, id)));
  return row;
}

export interface QuestionnaireListRow {
  id: string;
  url: string;
  version: string;
  title: string | null;
  createdAt: Date;
}

/** The organisation's own questionnaires: for each url, the version added last. */
export async function latestQuestionnaireVersions(on: Queryable, organisationId: string): Promise<QuestionnaireListRow[]> {
  return on
    .selectDistinctOn([questionnaires.url], {
      id: questionnaires.id,
      url: questionnaires.url,
      version: questionnaires.version,
      title: questionnaires.title,
      createdAt: questionnaires.createdAt,
    })
    .from(questionnaires)
    .where(eq(questionnaires.organisationId, organisationId))
    .orderBy(questionnaires.url, desc(questionnaires.createdAt), desc(sql`${questionnaires.id}`));
}

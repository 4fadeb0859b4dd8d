// Message templates' SQL. Every statement names the organisation: a template id alone reaches nothing.
import { and, asc, eq, ne, sql } from 'drizzle-orm';
import type { Queryable } from '../../platform/db/client.ts';
import { messageTemplates } from '../../platform/db/schema.ts';

export type MessageTemplate = typeof messageTemplates.$inferSelect;

export async function listTemplates(db: Queryable, organisationId: string): Promise<MessageTemplate[]> {
  return db.select().from(messageTemplates).where(eq(messageTemplates.organisationId, organisationId)).orderBy(asc(sql`lower(${messageTemplates.name})`), asc(messageTemplates.id));
}

export async function findTemplate(db: Queryable, organisationId: string, id: string): Promise<MessageTemplate | undefined> {
  const [row] = await db
    .select()
    .from(messageTemplates)
    .where(and(eq(messageTemplates.organisationId, organisationId), eq(messageTemplates.id, id)));
  return row;
}

/** Whether another of the organisation's templates (not `exceptId`) already has this name. */
export async function templateNameTaken(db: Queryable, organisationId: string, name: string, exceptId?: string): Promise<boolean> {
  const [row] = await db
    .select({ id: messageTemplates.id })
    .from(messageTemplates)
    .where(and(eq(messageTemplates.organisationId, organisationId), eq(messageTemplates.name, name), exceptId ? ne(messageTemplates.id, exceptId) : undefined))
    .limit(1);
  return row !== undefined;
}

export async function insertTemplate(db: Queryable, values: { organisationId: string; name: string; body: string; createdByStaffId: string; now: Date }): Promise<MessageTemplate> {
  const [row] = await db
    .insert(messageTemplates)
    .values({ organisationId: values.organisationId, name: values.name, body: values.body, createdByStaffId: values.createdByStaffId, createdAt: values.now, updatedAt: values.now })
    .returning();
  return row!;
}

export async function updateTemplate(db: Queryable, organisationId: string, id: string, values: { name: string; body: string; now: Date }): Promise<MessageTemplate | undefined> {
  const [row] = await db
    .update(messageTemplates)
    .set({ name: values.name, body: values.body, updatedAt: values.now })
    .where(and(eq(messageTemplates.organisationId, organisationId), eq(messageTemplates.id, id)))
    .returning();
  return row;
}

export async function deleteTemplateRow(db: Queryable, organisationId: string, id: string): Promise<MessageTemplate | undefined> {
  const [row] = await db
    .delete(messageTemplates)
    .where(and(eq(messageTemplates.organisationId, organisationId), eq(messageTemplates.id, id)))
    .returning();
  return row;
}

/** Whether a write was refused by the one-name-per-organisation index (a concurrent add of the same name). */
export function isTemplateNameConflict(error: unknown): boolean {
  let cause: unknown = error;
  for (let depth = 0; depth < 4 && cause; depth++) {
    const { code, constraint, message } = cause as { code?: string; constraint?: string; message?: string };
    if (code === '23505' && (constraint ?? message ?? '').includes('message_templates_org_name_idx')) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

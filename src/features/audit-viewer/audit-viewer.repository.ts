// The audit viewer's SQL. Every query is bounded by the organisation: its own events
// (audit_events_org_idx, or audit_events_org_actor_idx for one staff member), or for one of its
// patients the union of the events naming them (audit_events_patient_idx), their conversations'
// events (audit_events_conversation_idx) and the searches that showed them (the GIN index on
// details -> 'patientIds', which only a `@>` test on that exact expression can use).
import { and, asc, eq, sql, type SQL } from 'drizzle-orm';
import { queryRows, type Queryable } from '../../platform/db/client.ts';
import { apiKeys, patients, staffUsers } from '../../platform/db/schema.ts';

export interface AuditFilters {
  organisationId: string;
  /** A patient of the organisation (already checked): everything about them. */
  patientId?: string;
  /** A staff member's id: what they did. */
  staffId?: string;
  type?: string;
  /** [from, to): instants. */
  from?: Date;
  to?: Date;
}

export interface AuditRow {
  id: number;
  occurredAt: Date;
  type: string;
  actorType: string;
  actorId: string | null;
  organisationId: string | null;
  patientId: string | null;
  conversationId: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

interface RawRow {
  id: string | number;
  occurred_at: Date | string;
  type: string;
  actor_type: string;
  actor_id: string | null;
  organisation_id: string | null;
  patient_id: string | null;
  conversation_id: string | null;
  ip: string | null;
  details: Record<string, unknown> | string;
}

const COLUMNS = sql.raw('id, occurred_at, type, actor_type, actor_id, organisation_id, patient_id, conversation_id, ip, details');

/** The filters other than who the events are about, with the page's keyset bound. */
function commonConditions(filters: AuditFilters, beforeId: number | undefined): SQL[] {
  const conditions: SQL[] = [];
  if (filters.staffId) conditions.push(sql`actor_type = 'staff' AND actor_id = ${filters.staffId}`);
  if (filters.type) conditions.push(sql`type = ${filters.type}`);
  if (filters.from) conditions.push(sql`occurred_at >= ${filters.from.toISOString()}::timestamptz`);
  if (filters.to) conditions.push(sql`occurred_at < ${filters.to.toISOString()}::timestamptz`);
  if (beforeId !== undefined) conditions.push(sql`id < ${beforeId}`);
  return conditions;
}

const andAll = (conditions: SQL[]) => sql.join(conditions, sql` AND `);

/** The query for one page of events, newest first (exported for the EXPLAIN test). */
export function auditEventsQuery(filters: AuditFilters, options: { beforeId?: number; limit: number }): SQL {
  const common = commonConditions(filters, options.beforeId);
  const limit = sql`ORDER BY id DESC LIMIT ${options.limit}`;
  if (!filters.patientId) {
    const where = andAll([sql`organisation_id = ${filters.organisationId}`, ...common]);
    return sql`SELECT ${COLUMNS} FROM audit_events WHERE ${where} ${limit}`;
  }
  const patientId = filters.patientId;
  const inOrganisation = sql`organisation_id = ${filters.organisationId}`;
  // Each arm is limited on its own so each is an index scan that stops early; the union of their ids
  // is then ordered once. Every arm, and the outer query, names the organisation: a patient id from
  // another organisation (or an event that names one) can never bring its rows onto this page.
  const arm = (about: SQL) => sql`(SELECT id FROM audit_events WHERE ${andAll([inOrganisation, about, ...common])} ${limit})`;
  const named = arm(sql`patient_id = ${patientId}`);
  const theirConversations = arm(
    sql`conversation_id IN (SELECT id FROM conversations WHERE patient_id = ${patientId} AND organisation_id = ${filters.organisationId})`,
  );
  const searchesShowingThem = arm(sql`type = 'patient.searched' AND details -> 'patientIds' @> ${JSON.stringify([patientId])}::jsonb`);
  return sql`SELECT ${COLUMNS} FROM audit_events WHERE ${inOrganisation} AND id IN (${named} UNION ${theirConversations} UNION ${searchesShowingThem}) ${limit}`;
}

export async function auditEventsPage(db: Queryable, filters: AuditFilters, options: { beforeId?: number; limit: number }): Promise<AuditRow[]> {
  const rows = await queryRows<RawRow>(db, auditEventsQuery(filters, options));
  return rows.map((r) => ({
    id: Number(r.id),
    occurredAt: new Date(r.occurred_at),
    type: r.type,
    actorType: r.actor_type,
    actorId: r.actor_id,
    organisationId: r.organisation_id,
    patientId: r.patient_id,
    conversationId: r.conversation_id,
    ip: r.ip,
    details: typeof r.details === 'string' ? (JSON.parse(r.details) as Record<string, unknown>) : r.details,
  }));
}

/** The event types the organisation's trail holds, for the filter's select. */
export async function auditTypesPresent(db: Queryable, organisationId: string): Promise<string[]> {
  const rows = await queryRows<{ type: string }>(db, sql`SELECT DISTINCT type FROM audit_events WHERE organisation_id = ${organisationId} ORDER BY type`);
  return rows.map((r) => r.type);
}

export async function organisationStaff(db: Queryable, organisationId: string): Promise<{ id: string; name: string }[]> {
  return db.select({ id: staffUsers.id, name: staffUsers.name }).from(staffUsers).where(eq(staffUsers.organisationId, organisationId)).orderBy(asc(staffUsers.name));
}

export async function organisationApiKeyNames(db: Queryable, organisationId: string): Promise<{ id: string; name: string }[]> {
  return db.select({ id: apiKeys.id, name: apiKeys.name }).from(apiKeys).where(eq(apiKeys.organisationId, organisationId));
}

/** Names and NHS numbers of the organisation's patients among `ids` (events name patients by id). */
export async function patientsNamed(db: Queryable, organisationId: string, ids: string[]): Promise<{ id: string; givenName: string; familyName: string; nhsNumber: string }[]> {
  if (ids.length === 0) return [];
  return db
    .select({ id: patients.id, givenName: patients.givenName, familyName: patients.familyName, nhsNumber: patients.nhsNumber })
    .from(patients)
    .where(and(eq(patients.organisationId, organisationId), sql`${patients.id} IN (${sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `)})`));
}

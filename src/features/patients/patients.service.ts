// Patients belong to one organisation and are only ever looked up within it.
import { and, eq, getTableColumns, ilike, sql } from 'drizzle-orm';
import { z } from 'zod';
import { patients } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { CONTROL_CHARACTERS, FORMAT_CHARACTERS, formatCharactersMessage } from '../../platform/names.ts';
import { normaliseNhsNumber, normaliseUkMobile } from './identifiers.ts';

export type Patient = typeof patients.$inferSelect;

const isoDate = z.iso.date('Date of birth must be a real date in the form YYYY-MM-DD').refine((v) => {
  const d = new Date(`${v}T00:00:00Z`);
  return d.getTime() <= Date.now() && d.getUTCFullYear() >= 1890;
}, 'Date of birth must be in the past and after 1890');

const personName = (what: string) =>
  z
    .string(`Enter the patient's ${what}`)
    .trim()
    .min(1, `Enter the patient's ${what}`)
    .max(100, `The patient's ${what} must be 100 characters or fewer`)
    // Control characters and invisible format characters have no place in a name (platform/names.ts).
    .refine((v) => !CONTROL_CHARACTERS.test(v), `The patient's ${what} must not contain control characters`)
    .refine((v) => !FORMAT_CHARACTERS.test(v), formatCharactersMessage(`The patient's ${what}`));

export const patientDetails = z.object({
  givenName: personName('given name'),
  familyName: personName('family name'),
  dateOfBirth: isoDate,
  mobileNumber: z
    .string('Enter a UK mobile number')
    .transform((v, ctx) => {
      const e164 = normaliseUkMobile(v);
      if (!e164) {
        ctx.addIssue({ code: 'custom', message: 'Enter a UK mobile number, like 07700 900123' });
        return z.NEVER;
      }
      return e164;
    }),
});
export type PatientDetails = z.output<typeof patientDetails>;

export const nhsNumberSchema = z.string('Enter an NHS number').transform((v, ctx) => {
  const n = normaliseNhsNumber(v);
  if (!n) {
    ctx.addIssue({ code: 'custom', message: 'Enter a valid 10-digit NHS number' });
    return z.NEVER;
  }
  return n;
});

export async function findPatientByNhsNumber(db: Queryable, organisationId: string, nhsNumber: string): Promise<Patient | undefined> {
  const [row] = await db
    .select()
    .from(patients)
    .where(and(eq(patients.organisationId, organisationId), eq(patients.nhsNumber, nhsNumber)));
  return row;
}

/**
 * Every organisation's record with this NHS number (the portal only: it is the one place that looks
 * across organisations, for the person NHS login vouched for). Just what matching needs.
 */
export async function listRecordsForNhsNumber(db: Queryable, nhsNumber: string) {
  return db
    .select({
      id: patients.id,
      organisationId: patients.organisationId,
      dateOfBirth: patients.dateOfBirth,
      familyName: patients.familyName,
      updatedAt: patients.updatedAt,
    })
    .from(patients)
    .where(eq(patients.nhsNumber, nhsNumber));
}

export async function getPatient(db: Queryable, organisationId: string, id: string): Promise<Patient | undefined> {
  const [row] = await db.select().from(patients).where(and(eq(patients.organisationId, organisationId), eq(patients.id, id)));
  return row;
}

/** Family name (case-insensitive, exact) and date of birth, within one organisation. */
export async function searchPatientsByNameAndDob(
  db: Queryable,
  organisationId: string,
  familyName: string,
  dateOfBirth: string,
): Promise<Patient[]> {
  const escaped = familyName.trim().replace(/[\\%_]/g, (c) => `\\${c}`);
  return db
    .select()
    .from(patients)
    .where(and(eq(patients.organisationId, organisationId), ilike(patients.familyName, escaped), eq(patients.dateOfBirth, dateOfBirth)))
    .limit(20);
}

/** Create or update by NHS number; returns the row and whether it was created. */
export async function upsertPatient(
  db: Queryable,
  organisationId: string,
  nhsNumber: string,
  details: PatientDetails,
): Promise<{ patient: Patient; created: boolean }> {
  const values = {
    givenName: details.givenName,
    familyName: details.familyName,
    dateOfBirth: details.dateOfBirth,
    mobileE164: details.mobileNumber,
  };
  const [row] = await db
    .insert(patients)
    .values({ organisationId, nhsNumber, ...values })
    .onConflictDoUpdate({ target: [patients.organisationId, patients.nhsNumber], set: { ...values, updatedAt: new Date() } })
    // xmax = 0 only on a freshly inserted row version: tells insert from update in one statement.
    .returning({ ...getTableColumns(patients), inserted: sql<boolean>`(xmax = 0)` });
  const { inserted, ...patient } = row!;
  return { patient, created: Boolean(inserted) };
}

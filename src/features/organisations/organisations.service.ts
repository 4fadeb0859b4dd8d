// Organisations: the GP practices, hospitals and teams that send messages.
import { asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { organisations } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { AppError } from '../../platform/http/errors.ts';
import { CONTROL_CHARACTERS, FORMAT_CHARACTERS, formatCharactersMessage } from '../../platform/names.ts';

export const organisationInput = z.object({
  // Shown to patients in every text and on every page: no control or invisible format characters.
  name: z
    .string()
    .trim()
    .min(1, 'Enter the organisation name')
    .max(120)
    .refine((v) => !CONTROL_CHARACTERS.test(v), 'The organisation name must not contain control characters')
    .refine((v) => !FORMAT_CHARACTERS.test(v), formatCharactersMessage('The organisation name')),
  // ODS codes are 3–6 upper-case letters and digits (e.g. A12345, RXX).
  odsCode: z
    .string()
    .trim()
    .toUpperCase()
    .regex(/^[A-Z0-9]{3,6}$/, 'ODS code must be 3 to 6 letters and numbers'),
  contactPhone: z
    .string()
    .trim()
    .regex(/^[0-9 +()]{7,20}$/, 'Contact phone must be a telephone number, like 01234 567890'),
});
export type OrganisationInput = z.input<typeof organisationInput>;
export type Organisation = typeof organisations.$inferSelect;

export async function createOrganisation(db: Queryable, input: OrganisationInput): Promise<Organisation> {
  const values = organisationInput.parse(input);
  const existing = await findOrganisationByOds(db, values.odsCode);
  if (existing) throw new AppError(409, `An organisation with ODS code ${values.odsCode} already exists`);
  const [row] = await db.insert(organisations).values(values).returning();
  return row!;
}

export async function findOrganisationByOds(db: Queryable, odsCode: string): Promise<Organisation | undefined> {
  const [row] = await db.select().from(organisations).where(eq(organisations.odsCode, odsCode.toUpperCase()));
  return row;
}

export async function getOrganisation(db: Queryable, id: string): Promise<Organisation | undefined> {
  const [row] = await db.select().from(organisations).where(eq(organisations.id, id));
  return row;
}

export async function listOrganisations(db: Queryable): Promise<Organisation[]> {
  return db.select().from(organisations).orderBy(asc(organisations.name));
}

// Demo data for a first look at the service: one organisation, one staff account, a handful of
// patients. NHS numbers are from the 999 test range (valid check digits) and mobiles from Ofcom's
// drama range (07700 900xxx), so nothing here can reach a real person. Development only.
import { count } from 'drizzle-orm';
import { organisations } from '../platform/db/schema.ts';
import type { Queryable } from '../platform/db/client.ts';
import { createOrganisation } from '../features/organisations/organisations.service.ts';
import { createStaffUser } from '../features/staff/staff-accounts.service.ts';
import { upsertPatient } from '../features/patients/patients.service.ts';

export const DEMO_STAFF = { email: 'staff@demo-surgery.example', password: 'demo-password-1234', name: 'Alex Morgan' };

export const DEMO_ORGANISATION = { name: 'Demo Surgery', odsCode: 'A12345', contactPhone: '01234 567890' };
export const SECOND_DEMO_ORGANISATION = { name: 'Riverside Hospital', odsCode: 'RXX', contactPhone: '01234 765432' };

export const DEMO_PATIENTS = [
  { nhsNumber: '9990000018', givenName: 'Priya', familyName: 'Shah', dateOfBirth: '1984-03-12', mobileNumber: '07700 900001' },
  { nhsNumber: '9990000026', givenName: 'Tom', familyName: 'Evans', dateOfBirth: '1952-11-30', mobileNumber: '07700 900002' },
  { nhsNumber: '9990000034', givenName: 'Grace', familyName: 'Okafor', dateOfBirth: '1999-07-04', mobileNumber: '07700 900003' },
  { nhsNumber: '9990000042', givenName: 'Megan', familyName: 'Jones', dateOfBirth: '2007-01-21', mobileNumber: '07700 900004' },
  { nhsNumber: '9990000050', givenName: 'Arthur', familyName: 'Williams', dateOfBirth: '1938-05-09', mobileNumber: '07700 900005' },
];

/** Seeds once: does nothing if any organisation exists. Returns whether it seeded. */
export async function seedDemoData(db: Queryable, opts: { isProduction: boolean }): Promise<boolean> {
  if (opts.isProduction) throw new Error('Refusing to load demo data into a production database');
  const [row] = await db.select({ n: count() }).from(organisations);
  if (Number(row?.n ?? 0) > 0) return false;
  const org = await createOrganisation(db, DEMO_ORGANISATION);
  await createStaffUser(db, { organisationId: org.id, ...DEMO_STAFF });
  for (const p of DEMO_PATIENTS) {
    await upsertPatient(db, org.id, p.nhsNumber, {
      givenName: p.givenName,
      familyName: p.familyName,
      dateOfBirth: p.dateOfBirth,
      mobileNumber: p.mobileNumber.replace(/^0/, '+44').replace(/\s/g, ''),
    });
  }
  return true;
}

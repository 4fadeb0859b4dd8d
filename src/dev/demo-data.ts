// Demo data for a first look at the service: one organisation, a staff account of each role, a handful of
// patients. NHS numbers are from the 999 test range (valid check digits) and mobiles from Ofcom's
// drama range (07700 900xxx), so nothing here can reach a real person. Development only.
import { count, eq } from 'drizzle-orm';
import { bookingClinicians, organisations } from '../platform/db/schema.ts';
import type { Queryable } from '../platform/db/client.ts';
import { createOrganisation } from '../features/organisations/organisations.service.ts';
import { createStaffUser } from '../features/staff/staff-accounts.service.ts';
import { upsertPatient } from '../features/patients/patients.service.ts';
import { insertAppointmentType, insertClinician, insertLocation, insertSessionWithSlots } from '../features/booking/booking.repository.ts';
import { addDays, londonDate, sessionSlots } from '../features/booking/booking-times.ts';

export const DEMO_STAFF = { email: 'staff@demo-surgery.example', password: 'demo-password-1234', name: 'Alex Morgan', role: 'admin' } as const;
/** One of each other role, to see what each may do (permissions.ts). Published passwords: demo only. */
export const DEMO_CLINICIAN = { email: 'clinician@demo-surgery.example', password: 'demo-clinician-1234', name: 'Sam Patel', role: 'clinician' } as const;
export const DEMO_RECEPTIONIST = { email: 'reception@demo-surgery.example', password: 'demo-reception-1234', name: 'Jo Clarke', role: 'receptionist' } as const;

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
  for (const staff of [DEMO_STAFF, DEMO_CLINICIAN, DEMO_RECEPTIONIST]) await createStaffUser(db, { organisationId: org.id, ...staff });
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

/**
 * A demo clinic, so an invitation to book can be tried at once: a nurse's flu clinic on weekday
 * mornings and a GP's telephone reviews on weekday afternoons, for the 8 weeks from `now`. Added to the
 * demo organisation when it has no clinicians yet (also to a demo database seeded before booking existed).
 */
export async function seedDemoClinic(db: Queryable, now: Date): Promise<boolean> {
  const [org] = await db.select().from(organisations).where(eq(organisations.odsCode, DEMO_ORGANISATION.odsCode));
  if (!org) return false;
  const [clinicians] = await db.select({ n: count() }).from(bookingClinicians).where(eq(bookingClinicians.organisationId, org.id));
  if (Number(clinicians?.n ?? 0) > 0) return false;
  const nurse = await insertClinician(db, { organisationId: org.id, name: 'Sam Patel', role: 'Practice nurse' });
  const doctor = await insertClinician(db, { organisationId: org.id, name: 'Dr Ruth Adeyemi', role: 'GP' });
  const surgery = await insertLocation(db, { organisationId: org.id, name: 'Demo Surgery', address: '1 High Street, Leeds LS1 1AA', phone: DEMO_ORGANISATION.contactPhone });
  const flu = await insertAppointmentType(db, {
    organisationId: org.id,
    name: 'Flu vaccination',
    lengthMinutes: 10,
    mode: 'face_to_face',
    patientInfo: 'Wear a top with short sleeves so we can reach the top of your arm.',
    cancelCutoffMinutes: 60,
  });
  const review = await insertAppointmentType(db, {
    organisationId: org.id,
    name: 'Asthma review',
    lengthMinutes: 20,
    mode: 'telephone',
    patientInfo: 'Have your inhalers with you. We will call the mobile number we have for you.',
    cancelCutoffMinutes: 120,
  });
  const today = londonDate(now);
  const lastDate = addDays(today, 8 * 7);
  // Each weekday from tomorrow: one weekly session a clinic and weekday.
  for (let d = 1; d <= 7; d++) {
    const date = addDays(today, d);
    const weekday = new Date(`${date}T12:00:00Z`).getUTCDay();
    if (weekday === 0 || weekday === 6) continue;
    for (const [clinician, type, startTime, endTime] of [
      [nurse, flu, '09:00', '12:00'],
      [doctor, review, '14:00', '17:00'],
    ] as const) {
      const pattern = { firstDate: date, lastDate, weekly: true, startTime, endTime, lengthMinutes: type.lengthMinutes };
      await insertSessionWithSlots(
        db,
        { organisationId: org.id, clinicianId: clinician.id, locationId: surgery.id, appointmentTypeId: type.id, ...pattern },
        sessionSlots(pattern),
      );
    }
  }
  return true;
}

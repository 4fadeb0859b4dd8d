// Names with Unicode format characters (general category Cf) are refused (issue 10, item 13): a
// RIGHT-TO-LEFT OVERRIDE or a zero-width character makes a name display as something other than what
// is stored ("Smith" that is not Smith, two records that look alike). Patients (the API that creates
// them, the staff search), staff display names and organisation names (created by the command line,
// whose test checks its own words).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { createTestApp } from '../helpers/app.ts';
import { createTestOrganisation, createTestStaff } from '../helpers/factories.ts';
import { errorSummaryItems, signInAsStaff, staffPost } from '../helpers/staff.ts';
import { createApiKey } from '../../src/features/api/api-keys.service.ts';
import { patientDetails } from '../../src/features/patients/patients.service.ts';
import { staffAccountInput } from '../../src/features/staff/staff-accounts.service.ts';
import { organisationInput } from '../../src/features/organisations/organisations.service.ts';
import { patients } from '../../src/platform/db/schema.ts';

/** Format characters a pasted or crafted name may carry. */
const HIDDEN = {
  'RIGHT-TO-LEFT OVERRIDE': '\u202E',
  'ZERO WIDTH SPACE': '\u200B',
  'ZERO WIDTH JOINER': '\u200D',
  'ZERO WIDTH NON-JOINER': '\u200C',
  'LEFT-TO-RIGHT MARK': '\u200E',
  'WORD JOINER': '\u2060',
  'SOFT HYPHEN': '\u00AD',
  'ZERO WIDTH NO-BREAK SPACE (inside)': '\uFEFF',
};
const HIDDEN_WORDS = /must not contain hidden formatting characters \(like a right-to-left mark\)\. Type it in rather than copying and pasting it/;

const PATIENT = { givenName: 'Tom', familyName: 'Evans', dateOfBirth: '1952-11-30', mobileNumber: '07700 900002' };

test('the API refuses a patient name with a format character: 400 with the field named, nothing stored', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const organisation = await createTestOrganisation(services);
  const { key } = await createApiKey(services.db, { organisationId: organisation.id, name: 'Test integration' });
  const put = (payload: object) =>
    app.inject({ method: 'PUT', url: '/api/v1/patients/9990000026', headers: { authorization: `Bearer ${key}` }, payload });

  for (const [name, char] of Object.entries(HIDDEN)) {
    const res = await put({ ...PATIENT, familyName: `Ev${char}ans` });
    assert.equal(res.statusCode, 400, name);
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    const body = res.json() as { errors: Array<{ field: string; message: string }> };
    assert.deepEqual(body.errors.map((e) => e.field), ['familyName'], name);
    assert.match(body.errors[0]!.message, /^The patient's family name must not contain hidden formatting characters/, name);
  }
  const given = (await put({ ...PATIENT, givenName: `\u202EmoT` })).json() as { errors: Array<{ field: string; message: string }> };
  assert.deepEqual(given.errors.map((e) => e.field), ['givenName']);
  assert.equal((await services.db.select().from(patients).where(eq(patients.organisationId, organisation.id))).length, 0);

  // Names in any script, with accents, apostrophes and hyphens, are still fine.
  for (const familyName of ["O'Brien-Zoë", 'Nguyễn', 'Ørsted', 'محمد', 'Łukasz']) {
    assert.equal((await put({ ...PATIENT, familyName })).statusCode < 300, true, familyName);
  }
});

test('the staff search refuses a family name with a format character, with the NHS error summary', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const res = await staffPost(app, jar, '/staff/messages/new', { searchBy: 'name-dob', familyName: 'Sm\u202Eith', 'dob[day]': '12', 'dob[month]': '3', 'dob[year]': '1984' });
  assert.equal(res.statusCode, 400);
  const summary = errorSummaryItems(res.body);
  assert.equal(summary.length, 1);
  assert.match(summary[0]!, /^#familyName The patient's family name must not contain hidden formatting characters/);
});

test('staff display names and organisation names with a format character are refused, with their own words', () => {
  for (const char of Object.values(HIDDEN)) {
    const staff = staffAccountInput.safeParse({ organisationId: '00000000-0000-4000-8000-000000000000', email: 'sam@example.nhs.uk', name: `Sam${char} Carter`, password: 'a long enough password', role: 'receptionist' });
    assert.equal(staff.success, false);
    assert.match(staff.error!.issues[0]!.message, /^The name must not contain hidden formatting characters/);
    assert.match(staff.error!.issues[0]!.message, HIDDEN_WORDS);
    const organisation = organisationInput.safeParse({ name: `Riverside${char} Surgery`, odsCode: 'A12345', contactPhone: '01234 567890' });
    assert.equal(organisation.success, false);
    assert.match(organisation.error!.issues[0]!.message, /^The organisation name must not contain hidden formatting characters/);
    assert.equal(patientDetails.safeParse({ ...PATIENT, givenName: `T${char}om` }).success, false);
  }
  assert.equal(staffAccountInput.safeParse({ organisationId: '00000000-0000-4000-8000-000000000000', email: 'sam@example.nhs.uk', name: 'Siân Ó Súilleabháin', password: 'a long enough password', role: 'receptionist' }).success, true);
});

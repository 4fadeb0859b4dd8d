// The portal does not trust the NHS number alone: an organisation's record with the NHS number NHS
// login gave, but another date of birth or family name (a typo, a mistake in a practice's system), is
// someone else's as far as the portal is concerned. Its conversations are neither listed nor opened,
// and its organisation's staff see on the conversation page that NHS login did not match the record.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation, createTestOrganisation, createTestStaff, TEST_PATIENT } from '../../../test/helpers/factories.ts';
import { get, postForm, textOf } from '../../../test/helpers/patient.ts';
import { nhsLoginThroughApp, startTestNhsLogin, type TestNhsLogin } from '../../../test/helpers/nhs-login.ts';
import { pageText, signInAsStaff, staffGet } from '../../../test/helpers/staff.ts';
import { auditEvents, conversationItems } from '../../platform/db/schema.ts';
import { upsertPatient } from '../patients/patients.service.ts';
import { comparableFamilyName, recordDifferences } from '../patients/record-match.ts';
import type { Services } from '../../services.ts';

let nhsLogin: TestNhsLogin;
before(async () => {
  nhsLogin = await startTestNhsLogin();
});
after(() => nhsLogin.close());

/** Priya's NHS number (the stand-in's Priya Shah, born 1984-03-12) on another person's record. */
const SOMEONE_ELSE = { ...TEST_PATIENT, givenName: 'Anita', familyName: 'Patel', dateOfBirth: '1990-07-01', mobileNumber: '+447700900005' };

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const testApp = await createTestApp({ config: nhsLogin.env });
  t.after(testApp.close);
  return testApp;
}

async function signInAsPriya(app: Parameters<typeof nhsLoginThroughApp>[0]): Promise<CookieJar> {
  const jar = new CookieJar();
  const { res } = await nhsLoginThroughApp(app, jar, '/portal', { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  assert.equal(res.statusCode, 303);
  return jar;
}

async function mismatchEvents(services: Services, patientId: string) {
  return services.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.type, 'portal.record_mismatch'), eq(auditEvents.patientId, patientId)));
}

test('another organisation\'s record with the same NHS number but another name and date of birth shows nothing, and its staff are told', async (t) => {
  const { app, services } = await setup(t);
  const surgery = await createTestOrganisation(services, { name: 'Riverside Surgery' });
  const clinic = await createTestOrganisation(services, { name: 'Hillside Clinic' });
  const priyas = await createTestConversation(services, { organisation: surgery, body: 'Please book your flu jab.' });
  const notPriyas = await createTestConversation(services, { organisation: clinic, body: 'Your scan for Anita is on Friday.', patient: SOMEONE_ELSE });

  const jar = await signInAsPriya(app);
  const list = await get(app, '/portal', jar);
  assert.equal(list.statusCode, 200);
  assert.match(list.body, new RegExp(`href="/portal/conversations/${priyas.conversationId}"`));
  assert.doesNotMatch(list.body, new RegExp(notPriyas.conversationId));
  assert.doesNotMatch(textOf(list.body), /Hillside Clinic/);

  // Opened by its address, or answered: as if it did not exist.
  assert.equal((await get(app, `/portal/conversations/${notPriyas.conversationId}`, jar)).statusCode, 404);
  const reply = await postForm(app, `/portal/conversations/${notPriyas.conversationId}/reply`, jar, { reply: 'Hello' }, { csrfPage: '/portal' });
  assert.equal(reply.statusCode, 404);
  const items = await services.db.select().from(conversationItems).where(eq(conversationItems.conversationId, notPriyas.conversationId));
  assert.equal(items.length, 1, 'only the message: no reply stored');
  assert.equal((await get(app, `/portal/conversations/${priyas.conversationId}`, jar)).statusCode, 200, 'her own still opens');

  // Counted for the clinic: the record and the organisation, which details differ, never their values.
  const [event, ...more] = await mismatchEvents(services, notPriyas.patient.id);
  assert.equal(more.length, 0);
  assert.equal(event!.organisationId, clinic.id);
  assert.equal(event!.actorType, 'patient_nhs_login');
  assert.deepEqual(event!.details.differs, ['date_of_birth', 'family_name']);
  const stored = JSON.stringify(event);
  for (const value of ['Patel', 'Shah', '1990-07-01', '1984-03-12', TEST_PATIENT.nhsNumber]) assert.ok(!stored.includes(value), `the event holds no ${value}`);
  assert.equal((await mismatchEvents(services, priyas.patient.id)).length, 0, 'the matching record is not counted');

  // The clinic's staff see it on the conversation page; the surgery's staff see nothing of the kind.
  const clinicStaff = await createTestStaff(services, clinic.id);
  const clinicJar = await signInAsStaff(app, clinicStaff.email, clinicStaff.password);
  const clinicPage = pageText((await staffGet(app, clinicJar, `/staff/conversations/${notPriyas.conversationId}`)).body);
  assert.match(clinicPage, /NHS login did not match this record's details 1 time: check the date of birth and name/);
  const surgeryStaff = await createTestStaff(services, surgery.id);
  const surgeryJar = await signInAsStaff(app, surgeryStaff.email, surgeryStaff.password);
  assert.doesNotMatch(pageText((await staffGet(app, surgeryJar, `/staff/conversations/${priyas.conversationId}`)).body), /NHS login did not match/);

  // Each sign-in counts once.
  await signInAsPriya(app);
  const again = pageText((await staffGet(app, clinicJar, `/staff/conversations/${notPriyas.conversationId}`)).body);
  assert.match(again, /NHS login did not match this record's details 2 times: check the date of birth and name/);

  // The clinic puts the record right (it was Priya's all along): the warning goes, and she sees it.
  await upsertPatient(services.db, clinic.id, TEST_PATIENT.nhsNumber, TEST_PATIENT);
  assert.doesNotMatch(pageText((await staffGet(app, clinicJar, `/staff/conversations/${notPriyas.conversationId}`)).body), /NHS login did not match/);
  const fixed = await get(app, '/portal', jar);
  assert.match(fixed.body, new RegExp(`href="/portal/conversations/${notPriyas.conversationId}"`));
});

test('a record that differs only in the date of birth, or only in the family name, shows nothing either', async (t) => {
  const { app, services } = await setup(t);
  const wrongDob = await createTestConversation(services, { patient: { ...TEST_PATIENT, dateOfBirth: '1984-12-03' } });
  const wrongName = await createTestConversation(services, { patient: { ...TEST_PATIENT, familyName: 'Shaw' } });
  const jar = await signInAsPriya(app);
  const list = await get(app, '/portal', jar);
  assert.doesNotMatch(list.body, new RegExp(wrongDob.conversationId));
  assert.doesNotMatch(list.body, new RegExp(wrongName.conversationId));
  assert.match(textOf(list.body), /Your messages/);
  assert.equal((await get(app, `/portal/conversations/${wrongDob.conversationId}`, jar)).statusCode, 404);
  assert.equal((await get(app, `/portal/conversations/${wrongName.conversationId}`, jar)).statusCode, 404);
  assert.deepEqual((await mismatchEvents(services, wrongDob.patient.id)).map((e) => e.details.differs), [['date_of_birth']]);
  assert.deepEqual((await mismatchEvents(services, wrongName.patient.id)).map((e) => e.details.differs), [['family_name']]);
});

test('the family name matches whatever its case, accents, spaces, hyphens or apostrophes', async (t) => {
  const { app, services } = await setup(t);
  const shouted = await createTestConversation(services, { patient: { ...TEST_PATIENT, familyName: 'SHAH' } });
  const accented = await createTestConversation(services, { patient: { ...TEST_PATIENT, familyName: 'Sháh ' } });
  const jar = await signInAsPriya(app);
  const list = await get(app, '/portal', jar);
  assert.match(list.body, new RegExp(`href="/portal/conversations/${shouted.conversationId}"`));
  assert.match(list.body, new RegExp(`href="/portal/conversations/${accented.conversationId}"`));
  assert.equal((await mismatchEvents(services, shouted.patient.id)).length, 0);
});

test('comparableFamilyName and recordDifferences', () => {
  const same = (a: string, b: string) => comparableFamilyName(a) === comparableFamilyName(b);
  assert.ok(same("O'Brien", 'O’Brien'));
  assert.ok(same("O'Brien", 'OBRIEN'));
  assert.ok(same("O'Brien", 'o brien'));
  assert.ok(same('Smith-Jones', 'Smith Jones'));
  assert.ok(same('Zoë', 'Zoe'));
  assert.ok(same('Müller', 'MULLER'));
  assert.ok(same('Straße', 'STRASSE'));
  assert.ok(same('Nuñez', 'NU\u006E\u0303EZ'), 'composed and decomposed forms');
  assert.ok(!same('Smith', 'Smyth'));
  assert.ok(!same('Smith-Jones', 'Smith'));
  const record = { dateOfBirth: '1984-03-12', familyName: 'Shah' };
  assert.deepEqual(recordDifferences(record, { birthdate: '1984-03-12', familyName: 'shah' }), []);
  assert.deepEqual(recordDifferences(record, { birthdate: null, familyName: 'Shah' }), ['date_of_birth']);
  assert.deepEqual(recordDifferences(record, { birthdate: '1984-03-12', familyName: null }), ['family_name']);
  assert.deepEqual(recordDifferences(record, { birthdate: '1984-03-12', familyName: "'-" }), ['family_name'], 'nothing left to compare is no match');
});

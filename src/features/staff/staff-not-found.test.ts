// The staff "page not found": unknown paths under /staff and a NotFound from a staff route both get
// the staff page (with the menu when signed in), never the patient's page about links.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar } from '../../../test/helpers/factories.ts';
import { createTestConversation, createTestOrganisation, createTestStaff } from '../../../test/helpers/factories.ts';
import { pageText, signInAsStaff, staffGet } from '../../../test/helpers/staff.ts';

const PATIENT_WORDS = /If you were sent a link by text message/;

test('an unknown staff address gets the staff 404, with the menu when signed in and a sign-in link otherwise', async (t) => {
  const { app, services, close } = await createTestApp({ now: new TestClock().now });
  t.after(close);
  for (const url of ['/staff/nope', '/staff/conversations/x/y', '/staff/templates/a/b/c?x=1']) {
    const signedOut = await staffGet(app, new CookieJar(), url);
    assert.equal(signedOut.statusCode, 404, url);
    const text = pageText(signedOut.body);
    assert.match(text, /Page not found This page does not exist, or it belongs to another organisation\./);
    assert.match(signedOut.body, /href="\/staff\/sign-in">Sign in to Dovecote</);
    assert.doesNotMatch(text, PATIENT_WORDS);
    assert.doesNotMatch(text, /Staff menu|Sign out/);
    assert.equal(signedOut.headers['cache-control'], 'no-store');
  }
  const organisation = await createTestOrganisation(services, { name: 'Riverside Surgery' });
  const staff = await createTestStaff(services, organisation.id, { role: 'receptionist', name: 'Rita Reception' });
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const signedIn = await staffGet(app, jar, '/staff/nope');
  assert.equal(signedIn.statusCode, 404);
  const text = pageText(signedIn.body);
  assert.match(text, /Rita Reception, Riverside Surgery Sign out Inbox/);
  assert.match(signedIn.body, /href="\/staff">Go to the inbox</);
  assert.doesNotMatch(text, PATIENT_WORDS);
  // Outside /staff the patients' pages are unchanged.
  for (const url of ['/nope', '/nope/deeper/still']) {
    const patientSide = await app.inject({ method: 'GET', url });
    assert.equal(patientSide.statusCode, 404, url);
    assert.doesNotMatch(pageText(patientSide.body), /belongs to another organisation/, url);
  }
  // The API's problem documents are unchanged too.
  assert.match(String((await app.inject({ method: 'GET', url: '/api/nope' })).headers['content-type']), /^application\/problem\+json/);
});

test('another organisation’s conversation is the staff 404 page, with the menu', async (t) => {
  const { app, services, close } = await createTestApp({ now: new TestClock().now });
  t.after(close);
  const theirs = await createTestConversation(services);
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id, { name: 'Sam Staff' });
  const jar = await signInAsStaff(app, staff.email, staff.password);
  for (const url of [`/staff/conversations/${theirs.conversationId}`, '/staff/conversations/not-a-uuid', `/staff/patients/${theirs.patient.id}/message`]) {
    const res = await staffGet(app, jar, url);
    assert.equal(res.statusCode, 404, url);
    const text = pageText(res.body);
    assert.match(text, /Sam Staff, .* Sign out Inbox/, url);
    assert.match(text, /Page not found This page does not exist, or it belongs to another organisation\./, url);
    assert.doesNotMatch(text, PATIENT_WORDS);
    assert.doesNotMatch(text, /Priya|Shah/);
  }
});

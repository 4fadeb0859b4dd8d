// Logs (DESIGN.md §3): the whole journey — an integrator adds a patient through the API, staff sign in,
// find the patient and send a message, the SMS worker texts the link, the patient opens it on device A
// (a wrong date of birth first), replies, opens it on device B with a security code (a wrong one
// first), staff look, re-send and revoke — runs with every log line captured at debug level, including
// the SMS worker's. No line may hold a date of birth in any form, an NHS number, a phone number, a
// security code, a link token, a session, device or CSRF cookie value, an API key, or a message or
// reply body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp } from '../helpers/app.ts';
import { CookieJar, createTestOrganisation, createTestStaff, latestLinkToken, latestSecurityCode } from '../helpers/factories.ts';
import { createApiKey } from '../../src/features/api/api-keys.service.ts';
import { devPhoneTexts, outboundSms } from '../../src/platform/db/schema.ts';
import { eventually } from '../../src/features/sms/sms-test-support.ts';
import { nextIp, send } from './security-world.ts';

const PATIENT = {
  nhsNumber: '9990000042',
  nhsNumberSpaced: '999 000 0042',
  givenName: 'Ottoline',
  familyName: 'Brackenbury',
  dateOfBirth: '1937-11-23',
  mobileTyped: '07700 900123',
};
const WRONG_DOB = { day: '24', month: '10', year: '1936' };
const MESSAGE = 'Your cholesterol result from Tuesday is ready to discuss.';
const API_MESSAGE = 'Please book a flu vaccination before Hallowmas.';
const REPLY = 'Thanks, I will phone on Thursday about the pelargonium.';

/** The ways a secret could appear in a line: as typed, normalised, or spread over the three date fields. */
function secretPatterns(secrets: { codes: string[]; tokens: string[]; cookies: string[]; apiKey: string }): Array<[string, RegExp]> {
  const literal = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const digits = (s: string) => new RegExp(`(?<![\\d.])${s}(?![\\d])`);
  return [
    ['date of birth (ISO)', literal(PATIENT.dateOfBirth)],
    ['date of birth (dd/mm/yyyy)', /23\/11\/1937|23-11-1937|23\.11\.1937|19371123/],
    ['date of birth (year)', digits('1937')],
    ['wrong date of birth (year)', digits(WRONG_DOB.year)],
    ['date of birth parts', /"23"[^\n]{0,60}"11"[^\n]{0,60}"1937"/],
    ['NHS number', digits(PATIENT.nhsNumber)],
    ['NHS number (spaced)', literal(PATIENT.nhsNumberSpaced)],
    ['phone number', /07700 ?900 ?123|\+?44 ?7700 ?900 ?123|7700900123/],
    ['message body', literal(MESSAGE)],
    ['API message body', literal(API_MESSAGE)],
    ['reply body', literal(REPLY)],
    ['message body (fragment)', /cholesterol|Hallowmas|pelargonium/],
    ['API key', literal(secrets.apiKey)],
    ...secrets.codes.map((c) => ['security code', digits(c)] as [string, RegExp]),
    ...secrets.tokens.map((t) => ['link token', literal(t)] as [string, RegExp]),
    ...secrets.cookies.map((c) => ['cookie value', literal(c)] as [string, RegExp]),
  ];
}

test('no log line of the whole journey holds patient data, codes, tokens or cookie values', async (t) => {
  const logLines: string[] = [];
  const testApp = await createTestApp({ logLines, logLevel: 'debug' });
  const { app, services } = testApp;
  const stopWorkers = await app.startWorkers();
  t.after(async () => {
    await stopWorkers();
    await testApp.close();
  });

  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const { key: apiKey } = await createApiKey(services.db, { organisationId: organisation.id, name: 'Log test' });
  const auth = { authorization: `Bearer ${apiKey}` };

  // An integrator adds the patient (and gets one field wrong first).
  const patientBody = { givenName: PATIENT.givenName, familyName: PATIENT.familyName, dateOfBirth: PATIENT.dateOfBirth, mobileNumber: PATIENT.mobileTyped };
  const badPut = await send(app, 'PUT', `/api/v1/patients/${PATIENT.nhsNumber}`, { headers: auth, json: { ...patientBody, dateOfBirth: '23/11/1937', mobileNumber: '+44 7700 900123 ext' } });
  assert.equal(badPut.statusCode, 400);
  const put = await send(app, 'PUT', `/api/v1/patients/${PATIENT.nhsNumberSpaced.replace(/ /g, '')}`, { headers: auth, json: patientBody });
  assert.equal(put.statusCode, 201);

  // Staff sign in (one wrong password first), find the patient both ways, and send a message.
  const staffJar = new CookieJar();
  assert.equal((await send(app, 'POST', '/staff/sign-in', { jar: staffJar, form: { email: staff.email, password: 'not the password' } })).statusCode, 401);
  assert.equal((await send(app, 'POST', '/staff/sign-in', { jar: staffJar, form: { email: staff.email, password: staff.password } })).statusCode, 303);
  const byNumber = await send(app, 'POST', '/staff/messages/new', { jar: staffJar, form: { searchBy: 'nhs-number', nhsNumber: PATIENT.nhsNumberSpaced } });
  // An exact NHS number opens the patient's page.
  assert.equal(byNumber.statusCode, 303);
  const patientPage = await send(app, 'GET', String(byNumber.headers.location), { jar: staffJar });
  assert.match(patientPage.body, new RegExp(PATIENT.familyName));
  const byName = await send(app, 'POST', '/staff/messages/new', {
    jar: staffJar,
    form: { searchBy: 'name-dob', familyName: PATIENT.familyName, 'dob[day]': '23', 'dob[month]': '11', 'dob[year]': '1937' },
  });
  const patientId = /\/staff\/patients\/([0-9a-f-]{36})\/message/.exec(byName.body)?.[1];
  assert.ok(patientId, 'the search by name and date of birth finds the patient');
  const sent = await send(app, 'POST', `/staff/patients/${patientId}/message`, { jar: staffJar, form: { body: MESSAGE, replyMode: 'once' } });
  assert.equal(sent.statusCode, 303);
  const conversationId = /\/staff\/conversations\/([0-9a-f-]{36})/.exec(String(sent.headers.location))![1]!;
  const token = await latestLinkToken(services, conversationId);

  // The worker texts the link.
  await eventually(async () => {
    const rows = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversationId));
    return rows.length > 0 && rows.every((r) => r.status === 'sent');
  }, 'the link text to be sent');

  // Device A: a wrong date of birth, then the right one; read and reply.
  const deviceA = new CookieJar();
  assert.equal((await send(app, 'GET', `/${token}`, { jar: deviceA })).statusCode, 200);
  const wrong = await send(app, 'POST', `/${token}`, { jar: deviceA, form: { 'dob[day]': WRONG_DOB.day, 'dob[month]': WRONG_DOB.month, 'dob[year]': WRONG_DOB.year } });
  assert.equal(wrong.statusCode, 400);
  const right = await send(app, 'POST', `/${token}`, { jar: deviceA, form: { 'dob[day]': '23', 'dob[month]': '11', 'dob[year]': '1937' } });
  assert.equal(right.headers.location, `/${token}/conversation`);
  assert.match((await send(app, 'GET', `/${token}/conversation`, { jar: deviceA })).body, /cholesterol/);
  assert.equal((await send(app, 'POST', `/${token}/conversation/reply`, { jar: deviceA, form: { reply: REPLY } })).statusCode, 303);
  const cookieValues = [deviceA.get('__Host-dovecote-session'), deviceA.get('__Host-dovecote-device'), deviceA.get('__Host-dovecote-csrf')];

  // Device B: the right date of birth sends a code; a wrong code, a request for another, the right one.
  const deviceB = new CookieJar();
  const b1 = await send(app, 'POST', `/${token}`, { jar: deviceB, form: { 'dob-day': '23', 'dob-month': '11', 'dob-year': '1937' } });
  assert.equal(b1.headers.location, `/${token}/code`);
  const [link] = await services.db.select({ linkId: outboundSms.linkId }).from(outboundSms).where(and(eq(outboundSms.conversationId, conversationId), eq(outboundSms.kind, 'message_link')));
  const code = await latestSecurityCode(services, link!.linkId!);
  const wrongCode = String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');
  assert.equal((await send(app, 'POST', `/${token}/code`, { jar: deviceB, form: { code: wrongCode } })).statusCode, 400);
  await send(app, 'POST', `/${token}/code/resend`, { jar: deviceB }); // too soon: a "wait" page, still logged
  const codeOk = await send(app, 'POST', `/${token}/code`, { jar: deviceB, form: { code: `${code.slice(0, 3)} ${code.slice(3)}` } });
  assert.equal(codeOk.headers.location, `/${token}/conversation`);
  assert.equal((await send(app, 'GET', `/${token}/conversation`, { jar: deviceB })).statusCode, 200);
  cookieValues.push(deviceB.get('__Host-dovecote-session'), deviceB.get('__Host-dovecote-device'));
  await eventually(async () => {
    const rows = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversationId));
    return rows.every((r) => r.status === 'sent');
  }, 'the code texts to be sent');

  // The integrator sends a message and reads it back; staff look, re-send and revoke.
  const apiSent = await send(app, 'POST', '/api/v1/messages', { headers: auth, json: { nhsNumber: PATIENT.nhsNumberSpaced, body: API_MESSAGE, replyMode: 'none' } });
  assert.equal(apiSent.statusCode, 201);
  const apiId = (apiSent.json() as { id: string }).id;
  assert.equal((await send(app, 'GET', `/api/v1/messages/${apiId}`, { headers: auth })).statusCode, 200);
  assert.equal((await send(app, 'GET', `/api/v1/messages/${conversationId}`, { headers: auth })).statusCode, 200);
  assert.equal((await send(app, 'GET', `/staff/conversations/${conversationId}`, { jar: staffJar })).statusCode, 200);
  assert.equal((await send(app, 'GET', '/staff', { jar: staffJar })).statusCode, 200);
  assert.equal((await send(app, 'POST', `/staff/conversations/${conversationId}/resend`, { jar: staffJar })).statusCode, 303);
  const newToken = await latestLinkToken(services, conversationId);
  assert.equal((await send(app, 'POST', `/staff/conversations/${conversationId}/revoke`, { jar: staffJar })).statusCode, 303);
  assert.equal((await send(app, 'GET', `/${newToken}`)).statusCode, 410);
  // Refusals log too: a CSRF failure with the patient's cookies, an unknown link, a bad API key.
  assert.equal((await send(app, 'POST', `/${token}/conversation/reply`, { jar: deviceB, form: { reply: REPLY }, csrf: 'none' })).statusCode, 403);
  assert.equal((await app.inject({ method: 'GET', url: `/${token.slice(0, -2)}zz`, remoteAddress: nextIp() })).statusCode, 404);
  assert.equal((await send(app, 'GET', `/api/v1/messages/${apiId}`, { headers: { authorization: `Bearer ${apiKey}x` } })).statusCode, 401);
  cookieValues.push(staffJar.get('__Host-dovecote-staff'), staffJar.get('__Host-dovecote-csrf'));
  await send(app, 'POST', '/staff/sign-out', { jar: staffJar });
  await eventually(async () => {
    const rows = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversationId));
    return rows.every((r) => r.status === 'sent');
  }, 'every text to be sent');

  // Everything that was secret during the journey, as the phone got it (once sent, the outbox keeps
  // neither codes nor links).
  const texts = (await services.db.select({ body: devPhoneTexts.body }).from(devPhoneTexts)).map((r) => r.body);
  const codes = texts.flatMap((body) => /^(\d{6}) is your security code/.exec(body)?.[1] ?? []);
  const tokens = texts.flatMap((body) => /Open it here: http:\/\/localhost:3000\/([0-9A-Za-z]{22})$/.exec(body)?.[1] ?? []);
  assert.ok(codes.length >= 1 && tokens.length >= 3, `${codes.length} codes, ${tokens.length} links`);
  const cookies = cookieValues.filter((v): v is string => Boolean(v)).flatMap((v) => [v, decodeURIComponent(v)]);
  assert.ok(cookies.length >= 6, 'the cookie values were captured');
  const patterns = secretPatterns({ codes: [...codes, wrongCode], tokens, cookies, apiKey });

  // The net catches what it is meant to (so a passing test is not a blind one).
  const caught = (line: string) => patterns.some(([, p]) => p.test(line));
  for (const probe of [
    `{"url":"/${tokens[0]}/conversation"}`,
    '{"dob":"23/11/1937"}',
    '{"body":{"dob[day]":"23","dob[month]":"11","dob[year]":"1937"}}',
    `{"code":"${codes[0]}"}`,
    '{"to":"+447700900123"}',
    `{"nhs":"${PATIENT.nhsNumber}"}`,
    `{"cookie":"__Host-dovecote-session=${cookies[0]}"}`,
    `{"msg":"${REPLY}"}`,
  ]) {
    assert.ok(caught(probe), `the leak check misses ${probe}`);
  }
  assert.ok(!caught('{"level":30,"time":1764151200123,"responseTime":12.345678,"route":"/:token/code","statusCode":400}'), 'ordinary lines pass');

  // The logs were really captured: requests, the worker, refusals.
  assert.ok(logLines.length > 50, `only ${logLines.length} log lines`);
  assert.ok(logLines.some((l) => /"worker":"sms"/.test(l) && /text sent/.test(l)), 'the SMS worker logged its sends');
  assert.ok(logLines.some((l) => /"route":"\/:token"/.test(l)), 'requests are logged with their route pattern');
  assert.ok(logLines.some((l) => /request refused/.test(l)), 'refusals are logged');

  const leaks: string[] = [];
  for (const line of logLines) {
    for (const [what, pattern] of patterns) {
      if (pattern.test(line)) leaks.push(`${what}: ${line.slice(0, 400)}`);
    }
  }
  assert.deepEqual(leaks, [], `log lines hold secrets:\n${leaks.join('\n')}`);
});

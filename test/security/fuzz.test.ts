// Bad input, generated (fast-check): every form and API body gets overlong fields, wrong types
// (repeated fields become arrays, objects in JSON), unicode, control characters, HTML and script,
// malformed dates, NHS numbers and phone numbers, duplicate and missing fields, and oversized bodies.
// Every case must get a 4xx (or a 200 page showing the form again) — never a 500 — and no row that
// existed before may change. HTML a patient or staff member typed must come back escaped.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createTestApp, TestClock } from '../helpers/app.ts';
import { REPLY_LIMITS } from '../../src/features/messages/message-replies.service.ts';
import { CATALOGUE_URL, CookieJar, createTestConversation, latestSecurityCode } from '../helpers/factories.ts';
import { dobFields } from '../helpers/patient.ts';
import { createTestClinic } from '../helpers/booking.ts';
import { CSRF_COOKIE } from '../../src/platform/http/security.ts';
import { newSubmissionId } from '../../src/features/staff/staff-submissions.ts';
import { assertUnchangedRows, createWorld, csrfTokenOf, nextIp, send, snapshotRows, type World } from './security-world.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 30);

/** Markup that must never come back raw. The escaped forms (&lt;script&gt;) are fine. */
const XSS = [
  '<script>alert(1)</script>',
  '"><script>alert(1)</script>',
  "'><img src=x onerror=alert(1)>",
  '</textarea><script>alert(1)</script>',
  '<svg onload=alert(1)>',
  '<a href="javascript:alert(1)">x</a>',
  '{{ 7 * 7 }}{% raw %}',
];
const RAW_MARKERS = ['<script>alert', '<img src=x', '<svg onload', 'href="javascript:', '</textarea><script'];

const controlChars = fc.string({ unit: fc.integer({ min: 0, max: 31 }).map((n) => String.fromCharCode(n)), minLength: 1, maxLength: 8 });
/** Text a person or a program might send: ordinary, unicode (incl. astral and RTL), control, markup, huge. */
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  controlChars,
  fc.constantFrom(...XSS),
  fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom(...XSS), fc.string({ maxLength: 10 })).map(([a, x, b]) => a + x + b),
  fc.constantFrom('\u202Eevil', '\uFEFF', '\u0000', '%00', '../../etc/passwd', "' OR 1=1 --", '𝟙𝟚', '١٢', '１２', ' '.repeat(300)),
  fc.integer({ min: 1000, max: 20_000 }).map((n) => 'x'.repeat(n)),
);
/** A form field: a string, or the same field repeated (which arrives as an array). */
const formValue = fc.oneof({ weight: 4, arbitrary: nasty }, { weight: 1, arbitrary: fc.array(nasty, { minLength: 2, maxLength: 3 }) });
/** A date part that can never make a real date (so a wrong guess is never counted against the link). */
const malformedDay = fc.oneof(
  fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/^\d{1,2}$/.test(s.trim()) && s.trim() !== ''),
  fc.constantFrom('32', '99', '00', '0', '1e1', '0x1', '-1', '+1', '1.5', '٣', '３', '12/03/1984', '1984-03-12', "12' --", '<b>1</b>'),
);
const jsonValue = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double(), nasty, fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }));
const malformedNhs = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom('9990000035', '999000003', '99900000344', '999 000 0035', '0000000000', '1234567890', '999-000-003x', '٩٩٩٠٠٠٠٠٣٤', '99900000３４'),
);
const malformedPhone = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom('01234 567890', '+1 202 555 0100', '07700', '077009000011234', '+44', '+447700900001x', '0７700900001', 'tel:07700900001'),
);

function encodeForm(fields: Record<string, unknown>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    for (const one of ([] as unknown[]).concat(v)) params.append(k, String(one));
  }
  return params.toString();
}

function assertHandled(res: LightMyRequestResponse, what: string, allowed: number[]) {
  assert.ok(res.statusCode < 500, `${what}: got ${res.statusCode}: ${res.body.slice(0, 300)}`);
  assert.ok(allowed.includes(res.statusCode), `${what}: got ${res.statusCode}, wanted one of ${allowed.join(', ')}`);
  assert.doesNotMatch(res.body, /Sorry, there is a problem with the service/, what);
  for (const marker of RAW_MARKERS) assert.ok(!res.body.includes(marker), `${what}: the response has raw "${marker}"`);
}

interface Fuzz {
  app: FastifyInstance;
  world: World;
  clock: TestClock;
  post(url: string, jar: CookieJar, fields: Record<string, unknown>): Promise<LightMyRequestResponse>;
}

let shared: Promise<Fuzz & { services: FastifyInstance['services'] }> | undefined;
let closeShared: (() => Promise<void>) | undefined;
/** The browser that is let in to link A's message: the first device, until the code test trusts another. */
let patient: CookieJar | undefined;
after(async () => {
  await closeShared?.();
});

/** One app and one world for the whole file (setting them up is the slow part); closed at the end. */
function setUp(): Promise<Fuzz & { services: FastifyInstance['services'] }> {
  shared ??= (async () => {
    const clock = new TestClock();
    const testApp = await createTestApp({ now: clock.now });
    closeShared = testApp.close;
    const { app, services } = testApp;
    const world = await createWorld(app, services);
    // A token per browser, fetched again when its CSRF cookie changes (a new session brings a new secret).
    const tokens = new Map<CookieJar, { secret: string | undefined; token: string }>();
    return {
      app,
      services,
      world,
      clock,
      async post(url: string, jar: CookieJar, fields: Record<string, unknown>) {
        if (tokens.get(jar)?.secret !== jar.get(CSRF_COOKIE) || !tokens.has(jar)) {
          const token = await csrfTokenOf(app, jar);
          tokens.set(jar, { secret: jar.get(CSRF_COOKIE), token });
        }
        const res = await app.inject({
          method: 'POST',
          url,
          headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
          // Staff send forms carry a fresh one-time id, as a page just shown would (others ignore it).
          payload: encodeForm({ _csrf: tokens.get(jar)!.token, ...(url.startsWith('/staff/') && { submissionId: newSubmissionId() }), ...fields }),
          remoteAddress: nextIp(),
        });
        jar.store(res.headers['set-cookie']);
        return res;
      },
    };
  })();
  return shared;
}

/** Replies spaced as a person might send them, so the per-minute reply limits never answer (issue 10, item 9). */
const REPLY_SPACING_MS = Math.ceil(60_000 / REPLY_LIMITS.perConversation[0].max) + 1000;

test('patient forms: dates of birth, security codes and replies', async (t) => {
  const { app, services, world, post, clock } = await setUp();
  const { a } = world;
  const token = a.conversation.token;
  patient ??= a.patientJar;

  await t.test('date of birth: malformed dates are shown back with an error and never counted', async () => {
    const before = await snapshotRows(services);
    await fc.assert(
      fc.asyncProperty(malformedDay, formValue, formValue, fc.boolean(), async (day, month, year, dashed) => {
        const fields = dashed ? { 'dob-day': day, 'dob-month': month, 'dob-year': year } : { 'dob[day]': day, 'dob[month]': month, 'dob[year]': year };
        const res = await post(`/${token}`, new CookieJar(), fields);
        assertHandled(res, `POST /:token ${JSON.stringify(fields).slice(0, 200)}`, [400]);
        assert.match(res.body, /nhsuk-error-summary/);
      }),
      { numRuns: RUNS },
    );
    // Missing and duplicated fields, and a body that is not a form at all.
    for (const fields of [{}, { 'dob[day]': ['12', '12'], 'dob[month]': '3', 'dob[year]': '1984' }, { dob: '1984-03-12' }, { 'dob[day]': '12' }]) {
      assertHandled(await post(`/${token}`, new CookieJar(), fields), `POST /:token ${JSON.stringify(fields)}`, [400]);
    }
    assertUnchangedRows(before, await snapshotRows(services), 'date of birth fuzz');
  });

  await t.test('security code: anything but 6 digits is a typing slip, not a try', async () => {
    // A second device waiting for its code.
    const device = new CookieJar();
    const opened = await send(app, 'POST', `/${token}`, { jar: device, form: dobFields(a.conversation.patient.dateOfBirth) });
    assert.equal(opened.headers.location, `/${token}/code`);
    const before = await snapshotRows(services);
    await fc.assert(
      fc.asyncProperty(formValue.filter((v) => typeof v !== 'string' || v.replace(/[\s-]/g, '').length !== 6 || !/^\d+$/.test(v.replace(/[\s-]/g, ''))), async (code) => {
        const res = await post(`/${token}/code`, device, { code });
        assertHandled(res, `POST /:token/code ${JSON.stringify(code).slice(0, 100)}`, [400]);
        assert.match(res.body, /Enter the security code|The security code must be 6 numbers/);
      }),
      { numRuns: RUNS },
    );
    assertUnchangedRows(before, await snapshotRows(services), 'security code fuzz');
    const code = await latestSecurityCode(services, a.conversation.linkId);
    const right = await post(`/${token}/code`, device, { code });
    assert.equal(right.statusCode, 303, 'the code still works: no malformed entry counted as a try');
    assert.equal(right.headers.location, `/${token}/conversation`);
    patient = device;
  });

  await t.test('replies: stored only when valid, always shown escaped to the patient and to staff', async () => {
    const before = await snapshotRows(services);
    await fc.assert(
      fc.asyncProperty(formValue, async (reply) => {
        clock.advance(REPLY_SPACING_MS);
        const res = await post(`/${token}/conversation/reply`, patient!, { reply });
        // 429: the day's reply limit for the conversation, when FUZZ_RUNS is large (a page, never a 500).
        assertHandled(res, `POST /:token/conversation/reply ${JSON.stringify(reply).slice(0, 100)}`, [303, 400, 429]);
        if (res.statusCode === 303) assert.equal(res.headers.location, `/${token}/conversation?replied=1`, 'a 303 means the reply was sent');
        else assert.match(res.body, /nhsuk-error-summary/);
      }),
      { numRuns: RUNS },
    );
    for (const reply of XSS) {
      clock.advance(REPLY_SPACING_MS);
      const res = await post(`/${token}/conversation/reply`, patient!, { reply });
      assertHandled(res, `reply ${reply}`, [303]);
      assert.equal(res.headers.location, `/${token}/conversation?replied=1`);
    }
    assertUnchangedRows(before, await snapshotRows(services), 'reply fuzz');
    const page = await send(app, 'GET', `/${token}/conversation`, { jar: patient! });
    assertHandled(page, 'message page after the replies', [200]);
    assert.match(page.body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'the reply is shown, escaped');
    const staffPage = await send(app, 'GET', `/staff/conversations/${a.conversation.conversationId}`, { jar: a.staffJar });
    assertHandled(staffPage, 'staff conversation after the replies', [200]);
    assert.match(staffPage.body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });

  await t.test('a message with markup in it is shown escaped behind the link', async () => {
    const c = await createTestConversation(services, { body: XSS.join('\n') });
    const jar = new CookieJar();
    const opened = await send(app, 'POST', `/${c.token}`, { jar, form: dobFields() });
    assert.equal(opened.statusCode, 303);
    const page = await send(app, 'GET', `/${c.token}/conversation`, { jar });
    assertHandled(page, 'message with markup', [200]);
    assert.match(page.body, /&lt;svg onload=alert\(1\)&gt;/);
  });

  await t.test('cookies: any value in any of the service’s cookies counts as no cookie, never a 500', async () => {
    const names = ['__Host-dovecote-session', '__Host-dovecote-device', '__Host-dovecote-staff', '__Host-dovecote-portal', '__Host-dovecote-nhs-login', '__Host-dovecote-csrf'];
    const cookieValue = fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('%00', '%00abc', '%E0%A4%A', 'a'.repeat(4000), '"quoted"', 's:forged.signature', '../..'));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...names), cookieValue, fc.constantFrom(`/${token}`, `/${token}/code`, `/${token}/conversation`, '/staff', '/portal', '/nhs-login/callback?code=x&state=y'), async (name, value, url) => {
        const cookie = `${name}=${encodeURIComponent(value).replace(/%25/g, '%')}`;
        const res = await app.inject({ method: 'GET', url, headers: { cookie }, remoteAddress: nextIp() });
        assertHandled(res, `GET ${url} with ${cookie.slice(0, 80)}`, [200, 302, 303, 400, 401, 403, 404]);
        for (const secret of a.secrets) assert.ok(!res.body.includes(secret), `${url} with a made-up cookie shows "${secret}"`);
      }),
      { numRuns: RUNS },
    );
  });

  await t.test('link addresses: anything in the token place is the helpful 404, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }), fc.integer({ min: 23, max: 3000 }).map((n) => 'A'.repeat(n))), fc.constantFrom('', '/code', '/message'), async (raw, suffix) => {
        const res = await app.inject({ method: 'GET', url: `/${encodeURIComponent(raw)}${suffix}`, remoteAddress: nextIp() });
        assertHandled(res, `GET /${raw.slice(0, 40)}${suffix}`, [200, 303, 400, 404, 414]);
      }),
      { numRuns: RUNS },
    );
  });
});

test('staff forms: sign-in, finding a patient and writing a message', async (t) => {
  const { app, services, world, post } = await setUp();
  const { a } = world;

  await t.test('sign in: any email and password get the form again, never a 500', async () => {
    const before = await snapshotRows(services);
    await fc.assert(
      fc.asyncProperty(fc.record({ email: fc.oneof(formValue, fc.emailAddress(), fc.constant(a.staff.email.toUpperCase() + '\u0000')), password: formValue }, { requiredKeys: [] }), async (fields) => {
        const res = await post('/staff/sign-in', new CookieJar(), fields);
        assertHandled(res, `POST /staff/sign-in ${JSON.stringify(fields).slice(0, 200)}`, [400, 401, 429]);
        assert.ok(!([] as string[]).concat(res.headers['set-cookie'] ?? []).some((c) => c.startsWith('__Host-dovecote-staff=')));
      }),
      { numRuns: RUNS },
    );
    // PostgreSQL text cannot hold NUL: these once reached the database and failed with a 500 there.
    for (const fields of [{ email: 'someone\u0000@example.nhs.uk', password: 'x' }, { email: `${a.staff.email}\u0000`, password: a.staff.password }]) {
      assertHandled(await post('/staff/sign-in', new CookieJar(), fields), `POST /staff/sign-in ${JSON.stringify(fields)}`, [400, 401]);
    }
    assertUnchangedRows(before, await snapshotRows(services), 'sign-in fuzz');
  });

  await t.test('find a patient: malformed NHS numbers, names and dates of birth', async () => {
    const before = await snapshotRows(services);
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            searchBy: fc.oneof(fc.constantFrom('nhs-number', 'name-dob'), formValue),
            nhsNumber: fc.oneof(malformedNhs, formValue),
            familyName: formValue,
            // Sometimes a real date, so the family name reaches the database query.
            'dob[day]': fc.oneof(fc.constant('12'), malformedDay, formValue),
            'dob[month]': fc.oneof(fc.constant('3'), formValue),
            'dob[year]': fc.oneof(fc.constant('1984'), formValue),
          },
          { requiredKeys: [] },
        ),
        async (fields) => {
          const res = await post('/staff/messages/new', a.staffJar, fields);
          assertHandled(res, `POST /staff/messages/new ${JSON.stringify(fields).slice(0, 200)}`, [200, 400]);
        },
      ),
      { numRuns: RUNS },
    );
    for (const familyName of ['Quarter\u0000maine', '\u0000', 'Quartermaine\u0007', 'Quarter\uD800maine']) {
      const fields = { searchBy: 'name-dob', familyName, 'dob[day]': '12', 'dob[month]': '3', 'dob[year]': '1984' };
      assertHandled(await post('/staff/messages/new', a.staffJar, fields), `search ${JSON.stringify(familyName)}`, [200, 400]);
    }
    assertUnchangedRows(before, await snapshotRows(services), 'search fuzz');
  });

  await t.test('write a message: bad bodies and reply modes are refused; markup is escaped on the conversation page', async () => {
    const before = await snapshotRows(services);
    const url = `/staff/patients/${a.conversation.patient.id}/message`;
    await fc.assert(
      fc.asyncProperty(fc.record({ body: formValue, replyMode: fc.oneof(fc.constantFrom('none', 'once', 'conversation'), formValue) }, { requiredKeys: [] }), async (fields) => {
        const res = await post(url, a.staffJar, fields);
        assertHandled(res, `POST ${url} ${JSON.stringify(fields).slice(0, 200)}`, [303, 400]);
        if (res.statusCode === 303) {
          const page = await send(app, 'GET', String(res.headers.location), { jar: a.staffJar });
          assertHandled(page, 'conversation page', [200]);
        }
      }),
      { numRuns: RUNS },
    );
    // Another organisation's patient id, and ids that are not ids.
    for (const id of [world.b.conversation.patient.id, 'not-a-uuid', '00000000-0000-0000-0000-000000000000', "1' OR '1'='1", 'x'.repeat(5000)]) {
      const res = await post(`/staff/patients/${encodeURIComponent(id)}/message`, a.staffJar, { body: 'Hello', replyMode: 'none' });
      assertHandled(res, `message to ${id.slice(0, 40)}`, [404, 414]);
    }
    for (const path of ['conversations/not-a-uuid', `conversations/${'9'.repeat(400)}`, 'conversations/not-a-uuid/revoke', 'conversations/%00/resend']) {
      const method = path.endsWith('revoke') || path.endsWith('resend') ? 'POST' : 'GET';
      const res = method === 'POST' ? await post(`/staff/${path}`, a.staffJar, {}) : await send(app, 'GET', `/staff/${path}`, { jar: a.staffJar });
      assertHandled(res, `${method} /staff/${path}`, [404, 414]);
    }
    assertUnchangedRows(before, await snapshotRows(services), 'compose fuzz');
  });
});

test('API bodies, oversized bodies and odd content types', async (t) => {
  const { app, services, world, post } = await setUp();
  const { a } = world;
  const auth = { authorization: `Bearer ${a.apiKey}` };
  const api = (method: 'PUT' | 'POST', url: string, payload: string, contentType = 'application/json') =>
    app.inject({ method, url, headers: { ...auth, 'content-type': contentType }, payload, remoteAddress: nextIp() });

  await t.test('PUT /api/v1/patients: wrong types, unknown fields, malformed NHS numbers, dates and phone numbers', async () => {
    const before = await snapshotRows(services);
    const patientBody = fc.record(
      {
        givenName: fc.oneof(nasty, jsonValue),
        familyName: fc.oneof(nasty, jsonValue),
        dateOfBirth: fc.oneof(fc.constantFrom('12/03/1984', '1984-13-01', '1984-02-30', '2999-01-01', '1984-3-12', '1800-01-01', '', '1984-03-12T00:00:00Z'), jsonValue),
        mobileNumber: fc.oneof(malformedPhone, jsonValue),
        extra: jsonValue,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(malformedNhs, fc.constant(a.conversation.patient.nhsNumber)), fc.oneof(patientBody, jsonValue), async (nhs, body) => {
        const res = await api('PUT', `/api/v1/patients/${encodeURIComponent(nhs)}`, JSON.stringify(body));
        // An empty NHS number leaves no route (/api/v1/patients/): refused before anything runs.
        assertHandled(res, `PUT ${nhs} ${JSON.stringify(body).slice(0, 200)}`, nhs.trim() === '' ? [400, 403, 404] : [400, 404]);
        assert.match(String(res.headers['content-type']), /application\/problem\+json/);
        const problem = res.json() as { status: number; detail: string };
        assert.equal(problem.status, res.statusCode);
        assert.ok(problem.detail.length > 0, 'the problem says what is wrong');
      }),
      { numRuns: RUNS },
    );
    assertUnchangedRows(before, await snapshotRows(services), 'PUT patient fuzz');
  });

  await t.test('POST /api/v1/messages: anything goes in, valid ones are sent, and nothing stored changes', async () => {
    const before = await snapshotRows(services);
    const messageBody = fc.record(
      {
        nhsNumber: fc.oneof(malformedNhs, fc.constant(a.conversation.patient.nhsNumber), jsonValue),
        body: fc.oneof(nasty, jsonValue),
        replyMode: fc.oneof(fc.constantFrom('none', 'once', 'conversation', 'NONE', ''), jsonValue),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: messageBody }, { weight: 1, arbitrary: jsonValue }), async (body) => {
        const res = await api('POST', '/api/v1/messages', JSON.stringify(body));
        assertHandled(res, `POST /api/v1/messages ${JSON.stringify(body).slice(0, 200)}`, [201, 400, 404]);
      }),
      { numRuns: RUNS },
    );
    assertUnchangedRows(before, await snapshotRows(services), 'POST message fuzz');
  });

  await t.test('POST /api/v1/questionnaires: anything goes in, each answer is a 2xx or a problem, never a 500', async () => {
    const before = await snapshotRows(services);
    const item = fc.record(
      {
        linkId: fc.oneof(nasty, jsonValue),
        type: fc.oneof(fc.constantFrom('string', 'boolean', 'choice', 'integer', 'decimal', 'group', 'display', 'attachment', 'reference'), jsonValue),
        text: fc.oneof(nasty, jsonValue),
        required: jsonValue,
        repeats: jsonValue,
        answerOption: fc.oneof(jsonValue, fc.array(fc.record({ valueCoding: fc.record({ code: nasty }) }), { maxLength: 2 })),
        enableWhen: jsonValue,
        extension: fc.oneof(jsonValue, fc.array(fc.record({ url: nasty, valueString: nasty }), { maxLength: 2 })),
      },
      { requiredKeys: [] },
    );
    const questionnaireBody = fc.record(
      {
        resourceType: fc.oneof(fc.constant('Questionnaire'), jsonValue),
        url: fc.oneof(fc.constant('https://example.org/Questionnaire/fuzz'), nasty, jsonValue),
        version: fc.oneof(fc.constantFrom('1', '2'), nasty, jsonValue),
        status: fc.oneof(fc.constantFrom('active', 'draft'), jsonValue),
        title: fc.oneof(nasty, jsonValue),
        item: fc.oneof(fc.array(item, { maxLength: 3 }), jsonValue),
        extra: jsonValue,
      },
      { requiredKeys: ['resourceType', 'item'] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: questionnaireBody }, { weight: 1, arbitrary: jsonValue }), async (body) => {
        const res = await api('POST', '/api/v1/questionnaires', JSON.stringify(body));
        const what = `POST /api/v1/questionnaires ${JSON.stringify(body).slice(0, 200)}`;
        // The answer is JSON (never a page), so a title or linkId echoed back is data, not markup.
        assert.ok([200, 201, 400, 409].includes(res.statusCode), `${what}: got ${res.statusCode}: ${res.body.slice(0, 300)}`);
        assert.match(String(res.headers['content-type']), res.statusCode < 300 ? /^application\/json/ : /^application\/problem\+json/, what);
        if (res.statusCode === 400) assert.ok((res.json() as { problems?: unknown[]; errors?: unknown[] }).problems?.length, `${what}: the problems are listed`);
      }),
      { numRuns: RUNS },
    );
    for (const [payload, type] of [
      ['{"resourceType":', 'application/json'],
      ['', 'application/fhir+json'],
      ['null', 'application/fhir+json'],
      ['{"__proto__":{"admin":true},"resourceType":"Questionnaire","item":[]}', 'application/json'],
      ['<Questionnaire xmlns="http://hl7.org/fhir"/>', 'application/fhir+xml'],
      ['{"resourceType":"Questionnaire"}', 'text/plain'],
    ] as const) {
      const res = await api('POST', '/api/v1/questionnaires', payload, type);
      assertHandled(res, `POST /api/v1/questionnaires ${type} ${payload}`, [400, 415]);
      assert.match(String(res.headers['content-type']), /application\/problem\+json/, payload);
    }
    assertUnchangedRows(before, await snapshotRows(services), 'POST questionnaire fuzz');
  });

  await t.test('POST /api/v1/questionnaire-requests: anything goes in, valid ones are sent, and nothing stored changes', async () => {
    const before = await snapshotRows(services);
    const requestBody = fc.record(
      {
        nhsNumber: fc.oneof(malformedNhs, fc.constant(a.conversation.patient.nhsNumber), jsonValue),
        questionnaire: fc.oneof(
          { weight: 3, arbitrary: fc.record({ url: fc.oneof(fc.constant(CATALOGUE_URL('smoking-status')), nasty, jsonValue), version: fc.oneof(fc.constantFrom('1.0.0', '9.9.9', ''), nasty, jsonValue), extra: jsonValue }, { requiredKeys: [] }) },
          { weight: 1, arbitrary: fc.oneof(nasty, jsonValue) },
        ),
        closesAfterDays: fc.oneof(fc.integer({ min: -5, max: 40 }), fc.double(), nasty, jsonValue),
        extra: jsonValue,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: requestBody }, { weight: 1, arbitrary: jsonValue }), async (body) => {
        const res = await api('POST', '/api/v1/questionnaire-requests', JSON.stringify(body));
        const what = `POST /api/v1/questionnaire-requests ${JSON.stringify(body).slice(0, 200)}`;
        assertHandled(res, what, [201, 400, 404]);
        assert.match(String(res.headers['content-type']), res.statusCode === 201 ? /^application\/json/ : /^application\/problem\+json/, what);
        if (res.statusCode === 400) assert.ok((res.json() as { errors?: unknown[] }).errors?.length, `${what}: the wrong fields are named`);
      }),
      { numRuns: RUNS },
    );
    // Reading a response: another organisation's conversation, a message, and ids that are not ids.
    for (const id of [world.b.conversation.conversationId, a.conversation.conversationId, 'not-a-uuid', '\u0000', "1' OR '1'='1", '9'.repeat(400), 'x'.repeat(5000)]) {
      const res = await app.inject({ method: 'GET', url: `/api/v1/questionnaire-requests/${encodeURIComponent(id)}/response`, headers: auth, remoteAddress: nextIp() });
      assertHandled(res, `GET response of ${id.slice(0, 40)}`, [404, 414]);
    }
    assertUnchangedRows(before, await snapshotRows(services), 'POST questionnaire request fuzz');
  });

  await t.test('POST /api/v1/booking-invitations and the booking queries: anything goes in, valid ones are sent, and nothing stored changes', async () => {
    const clinic = await createTestClinic(services, { organisation: a.conversation.organisation });
    const theirs = await createTestClinic(services, { organisation: world.b.conversation.organisation });
    const before = await snapshotRows(services);
    const id = fc.oneof(fc.constantFrom(clinic.type.id, clinic.clinician.id, theirs.type.id, theirs.clinician.id, '00000000-0000-0000-0000-000000000000'), nasty, jsonValue);
    const date = fc.oneof(fc.constantFrom('2026-11-26', '2026-12-03', '2027-03-01', '2026-02-30', '2026-11-01', '03/12/2026', '2026-12-3', ''), nasty, jsonValue);
    const invitationBody = fc.record(
      {
        nhsNumber: fc.oneof(malformedNhs, fc.constant(a.conversation.patient.nhsNumber), jsonValue),
        appointmentTypeId: fc.oneof({ weight: 3, arbitrary: fc.constant(clinic.type.id) }, { weight: 2, arbitrary: id }),
        clinicianIds: fc.oneof(fc.array(id, { maxLength: 3 }), jsonValue),
        earliest: date,
        latest: date,
        extra: jsonValue,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: invitationBody }, { weight: 1, arbitrary: jsonValue }), async (body) => {
        const res = await api('POST', '/api/v1/booking-invitations', JSON.stringify(body));
        const what = `POST /api/v1/booking-invitations ${JSON.stringify(body).slice(0, 200)}`;
        assertHandled(res, what, [201, 400, 404]);
        assert.match(String(res.headers['content-type']), res.statusCode === 201 ? /^application\/json/ : /^application\/problem\+json/, what);
        if (res.statusCode === 400) assert.ok((res.json() as { errors?: unknown[] }).errors?.length, `${what}: the wrong fields are named`);
      }),
      { numRuns: RUNS },
    );
    // Query strings: every parameter may be missing, repeated, or anything at all.
    const ids = [clinic.type.id, clinic.clinician.id, theirs.type.id, theirs.clinician.id];
    const word = fc.oneof(fc.constantFrom(...ids, '2026-11-26', '2026-12-03', '2027-03-01', '2026-02-30', '03/12/2026', '', 'true', 'false', 'TRUE', '1'), nasty);
    const param = fc.oneof({ weight: 3, arbitrary: word }, { weight: 1, arbitrary: fc.array(word, { minLength: 2, maxLength: 2 }) });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/api/v1/booking-slots', '/api/v1/bookings'),
        fc.record({ appointmentTypeId: param, clinicianId: param, from: param, to: param, includeCancelled: param, extra: param }, { requiredKeys: [] }),
        async (path, query) => {
          const url = `${path}?${encodeForm(query as Record<string, unknown>)}`;
          const res = await app.inject({ method: 'GET', url, headers: auth, remoteAddress: nextIp() });
          assertHandled(res, `GET ${url.slice(0, 200)}`, [200, 400, 414]);
          if (res.statusCode === 400) assert.ok((res.json() as { errors?: unknown[] }).errors?.length, `GET ${url.slice(0, 200)}: the wrong parameters are named`);
        },
      ),
      { numRuns: RUNS },
    );
    assertUnchangedRows(before, await snapshotRows(services), 'booking API fuzz');
  });

  await t.test('malformed JSON, duplicate keys, wrong content types and empty bodies get problems', async () => {
    const before = await snapshotRows(services);
    const url = '/api/v1/messages';
    for (const [payload, type] of [
      ['{"nhsNumber":', 'application/json'],
      ['', 'application/json'],
      ['null', 'application/json'],
      ['[]', 'application/json'],
      ['"just a string"', 'application/json'],
      ['{"nhsNumber":"9990000034","nhsNumber":{"$ne":1},"body":"x","replyMode":"none"}', 'application/json'],
      ['{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}', 'application/json'],
      ['nhsNumber=9990000034&body=x&replyMode=none', 'application/x-www-form-urlencoded'],
      ['<xml/>', 'text/xml'],
      ['{"body":"x"}', 'text/plain'],
      ['{"body":"x"}', 'application/json; charset=utf-16'],
    ] as const) {
      const res = await api('POST', url, payload, type);
      assertHandled(res, `POST ${url} ${type} ${payload}`, [400, 404, 415]);
      assert.match(String(res.headers['content-type']), /application\/problem\+json/, payload);
    }
    assertUnchangedRows(before, await snapshotRows(services), 'malformed API bodies');
  });

  await t.test('bodies over 64 KB get 413 — a page for forms, a problem for the API — and change nothing', async () => {
    const before = await snapshotRows(services);
    const big = 'x'.repeat(70 * 1024);
    const apiRes = await api('POST', '/api/v1/messages', JSON.stringify({ nhsNumber: a.conversation.patient.nhsNumber, body: big, replyMode: 'none' }));
    assertHandled(apiRes, 'API 70 KB', [413]);
    assert.match(String(apiRes.headers['content-type']), /application\/problem\+json/);
    const put = await api('PUT', `/api/v1/patients/${a.conversation.patient.nhsNumber}`, JSON.stringify({ givenName: big }));
    assertHandled(put, 'API PUT 70 KB', [413]);
    for (const [url, jar, field] of [
      [`/${a.conversation.token}/conversation/reply`, a.patientJar, 'reply'],
      [`/${a.conversation.token}`, new CookieJar(), 'dob[day]'],
      ['/staff/sign-in', new CookieJar(), 'password'],
      [`/staff/patients/${a.conversation.patient.id}/message`, a.staffJar, 'body'],
    ] as const) {
      const res = await post(url, jar, { [field]: big });
      assertHandled(res, `${url} 70 KB`, [413]);
      assert.match(String(res.headers['content-type']), /text\/html/);
      assert.match(res.body, /The request is too large/);
    }
    // Many small fields add up to the same.
    const many: Record<string, string> = {};
    for (let i = 0; i < 8000; i++) many[`f${i}`] = 'xxxxxxx';
    assertHandled(await post(`/${a.conversation.token}/conversation/reply`, a.patientJar, many), 'many fields', [413]);
    assertUnchangedRows(before, await snapshotRows(services), 'oversized bodies');
  });

  await t.test('forms sent as JSON with objects and arrays in the fields are handled like bad input', async () => {
    const before = await snapshotRows(services);
    const jar = patient ?? a.patientJar;
    const csrf = await csrfTokenOf(app, jar);
    for (const body of [
      { _csrf: csrf, reply: { $gt: '' } },
      { _csrf: csrf, reply: ['a', 'b'] },
      { _csrf: csrf, reply: 12345 },
      { _csrf: csrf, 'dob[day]': { a: 1 }, 'dob[month]': [3], 'dob[year]': true },
    ]) {
      const url = 'reply' in body ? `/${a.conversation.token}/conversation/reply` : `/${a.conversation.token}`;
      const res = await app.inject({
        method: 'POST',
        url,
        headers: { cookie: jar.header(), 'content-type': 'application/json' },
        payload: JSON.stringify(body),
        remoteAddress: nextIp(),
      });
      assertHandled(res, `${url} JSON ${JSON.stringify(body).slice(0, 100)}`, [400, 403, 415]);
    }
    const res = await app.inject({ method: 'POST', url: `/${a.conversation.token}`, headers: { 'content-type': 'text/plain' }, payload: 'hello', remoteAddress: nextIp() });
    assertHandled(res, 'text/plain form', [400, 403, 415]);
    assertUnchangedRows(before, await snapshotRows(services), 'JSON forms');
  });

});

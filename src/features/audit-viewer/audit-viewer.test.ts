// The audit viewer: an organisation's admins see only its own events, filtered and paged; one
// patient's page includes the searches that showed them; the CSV export is safe to open in a
// spreadsheet; reading the trail is audited; other roles get 403 and other organisations' ids 404.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq, sql } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { databaseKind } from '../../../test/helpers/database.ts';
import { CookieJar } from '../../../test/helpers/factories.ts';
import { createTestOrganisation, createTestPatient, createTestStaff } from '../../../test/helpers/factories.ts';
import { errorSummaryItems, pageText, signInAsStaff, staffGet, staffPost } from '../../../test/helpers/staff.ts';
import { queryRows } from '../../platform/db/client.ts';
import { auditEvents, conversations } from '../../platform/db/schema.ts';
import { auditEventsQuery } from './audit-viewer.repository.ts';
import { AUDIT_PAGE_SIZE, parseUkDate, spreadsheetSafe } from './audit-viewer.service.ts';

type Services = Awaited<ReturnType<typeof createTestApp>>['services'];

async function auditWorld(t: { after(fn: () => Promise<void>): void }) {
  const { app, services, close } = await createTestApp({ now: new TestClock().now });
  t.after(close);
  const ours = await createTestOrganisation(services, { name: 'Riverside Surgery' });
  const theirs = await createTestOrganisation(services, { name: 'Hillside Practice' });
  const admin = await createTestStaff(services, ours.id, { role: 'admin', name: 'Ada Admin' });
  // A name a spreadsheet would run as a formula.
  const clinician = await createTestStaff(services, ours.id, { role: 'clinician', name: "=cmd|' /C calc'!A0" });
  const theirStaff = await createTestStaff(services, theirs.id, { role: 'admin', name: 'Hal Hillside' });
  const priya = await createTestPatient(services, ours.id);
  const tom = await createTestPatient(services, ours.id, { nhsNumber: '9990000026', givenName: '+SUM(1)', familyName: 'Evans', mobileNumber: '+447700900002' });
  const quentin = await createTestPatient(services, theirs.id, { nhsNumber: '9990000034', givenName: 'Quentin', familyName: 'Other', mobileNumber: '+447700900003' });
  const [priyasConversation] = await services.db.insert(conversations).values({ organisationId: ours.id, patientId: priya.id, kind: 'message' }).returning();
  const [tomsConversation] = await services.db.insert(conversations).values({ organisationId: ours.id, patientId: tom.id, kind: 'message' }).returning();
  // Each event's IP address says which it is (ours 192.0.2.x, theirs 198.51.100.x).
  const event = (ip: string, at: string, values: Partial<typeof auditEvents.$inferInsert>) =>
    services.db.insert(auditEvents).values({ type: 'x', actorType: 'system', ip, occurredAt: new Date(at), ...values });
  await event('192.0.2.9', '2026-07-31T23:30:00Z', { type: 'inbox.viewed', actorType: 'staff', actorId: admin.id, organisationId: ours.id });
  await event('192.0.2.1', '2026-11-20T10:00:00Z', { type: 'patient.viewed', actorType: 'staff', actorId: admin.id, organisationId: ours.id, patientId: priya.id });
  await event('192.0.2.2', '2026-11-21T10:00:00Z', {
    type: 'patient.searched',
    actorType: 'staff',
    actorId: clinician.id,
    organisationId: ours.id,
    details: { searchBy: 'name-dob', results: 2, patientIds: [priya.id, tom.id] },
  });
  await event('192.0.2.3', '2026-11-22T10:00:00Z', { type: 'link.opened', actorType: 'patient_link', organisationId: ours.id, patientId: tom.id, conversationId: tomsConversation!.id });
  await event('192.0.2.4', '2026-11-23T10:00:00Z', { type: 'questionnaire.reminder_sent', actorType: 'system', organisationId: ours.id, conversationId: priyasConversation!.id });
  await event('192.0.2.5', '2026-11-24T10:00:00Z', { type: 'template.created', actorType: 'staff', actorId: admin.id, organisationId: ours.id, details: { templateId: 'x', name: '@SUM(A1)' } });
  await event('198.51.100.1', '2026-11-22T11:00:00Z', { type: 'patient.viewed', actorType: 'staff', actorId: theirStaff.id, organisationId: theirs.id, patientId: quentin.id });
  // Their search that happened to list our patient's id must not show on our pages either.
  await event('198.51.100.2', '2026-11-22T12:00:00Z', {
    type: 'patient.searched',
    actorType: 'staff',
    actorId: theirStaff.id,
    organisationId: theirs.id,
    details: { searchBy: 'nhs-number', results: 1, patientIds: [quentin.id, priya.id] },
  });
  const jar = await signInAsStaff(app, admin.email, admin.password);
  return { app, services, ours, theirs, admin, clinician, theirStaff, priya, tom, quentin, jar };
}

/** The IP addresses on a page, in order: which events it shows. */
const shownIps = (html: string) => [...pageText(html).matchAll(/IP address ((?:192\.0\.2|198\.51\.100)\.\d+)/g)].map((m) => m[1]);

const auditReads = (services: Services, type: 'audit.viewed' | 'audit.exported') =>
  services.db.select().from(auditEvents).where(eq(auditEvents.type, type)).orderBy(auditEvents.id);

test('admins see only their organisation’s events, newest first, in words; each filter narrows them', async (t) => {
  const { app, services, admin, clinician, jar, priya } = await auditWorld(t);
  const all = await staffGet(app, jar, '/staff/audit');
  assert.equal(all.statusCode, 200);
  assert.deepEqual(shownIps(all.body), ['192.0.2.5', '192.0.2.4', '192.0.2.3', '192.0.2.2', '192.0.2.1', '192.0.2.9']);
  const text = pageText(all.body);
  assert.match(text, /Ada Admin What Added a message template: @SUM\(A1\)/);
  assert.match(text, /Who System What questionnaire\.reminder_sent/);
  assert.match(text, /Who The patient \(secure link\) What Opened the secure link \(link\.opened\) Patient \+SUM\(1\) Evans/);
  assert.match(text, /Searched for patients \(2 found\)/);
  assert.match(all.body, new RegExp(`href="/staff/audit/patients/${priya.id}"`));
  assert.doesNotMatch(text, /Hal Hillside|Quentin|198\.51\.100/);

  const filtered = async (query: string) => shownIps((await staffGet(app, jar, `/staff/audit?${query}`)).body);
  assert.deepEqual(await filtered(`staff=${clinician.id}`), ['192.0.2.2']);
  assert.deepEqual(await filtered(`staff=${admin.id}`), ['192.0.2.5', '192.0.2.1', '192.0.2.9']);
  assert.deepEqual(await filtered('type=link.opened'), ['192.0.2.3']);
  assert.deepEqual(await filtered('from=21/11/2026&to=22/11/2026'), ['192.0.2.3', '192.0.2.2']);
  assert.deepEqual(await filtered('from=23/11/2026'), ['192.0.2.5', '192.0.2.4']);
  // 23:30 UTC on 31 July is 00:30 on 1 August in London.
  assert.deepEqual(await filtered('from=1/8/2026&to=1/8/2026'), ['192.0.2.9']);
  assert.deepEqual(await filtered('from=31/7/2026&to=31/7/2026'), []);
  assert.deepEqual(await filtered(`patient=${priya.id}`), ['192.0.2.4', '192.0.2.2', '192.0.2.1']);
  assert.deepEqual(await filtered(`patient=${priya.id}&type=patient.searched`), ['192.0.2.2']);
  assert.match(pageText((await staffGet(app, jar, '/staff/audit?type=nothing.here')).body), /No events match these filters/);

  // The filter form posts the NHS number and is sent to an address naming the patient by id.
  const posted = await staffPost(app, jar, '/staff/audit', { nhsNumber: '999 000 0018', staff: '', type: '', from: '20/11/2026', to: '' });
  assert.equal(posted.statusCode, 303);
  assert.equal(posted.headers.location, `/staff/audit?patient=${priya.id}&from=20%2F11%2F2026`);
  const byPatient = await staffGet(app, jar, posted.headers.location!);
  assert.deepEqual(shownIps(byPatient.body), ['192.0.2.4', '192.0.2.2', '192.0.2.1']);
  assert.match(byPatient.body, /value="9990000018"/);
  // The select lists the organisation's staff and the types present.
  assert.match(all.body, /<option value="link.opened">Opened the secure link<\/option>/);
  assert.doesNotMatch(all.body, /Hal Hillside/);

  const reads = await auditReads(services, 'audit.viewed');
  assert.ok(reads.length >= 10);
  const patientRead = reads.find((r) => r.patientId === priya.id && (r.details as { filters: { from?: string } }).filters.from === '20/11/2026');
  assert.ok(patientRead, 'the read about the patient is recorded against them');
  assert.deepEqual(patientRead.details, { view: 'list', filters: { patientId: priya.id, from: '20/11/2026' } });
  assert.equal(patientRead.actorId, admin.id);
  // The filters, never the results.
  assert.doesNotMatch(JSON.stringify(reads.map((r) => r.details)), /192\.0\.2|Searched/);
});

test('one patient’s page lists every event about them, including searches that showed them, and nothing else', async (t) => {
  const { app, jar, services, priya, tom, quentin, theirStaff } = await auditWorld(t);
  const page = await staffGet(app, jar, `/staff/audit/patients/${priya.id}`);
  assert.equal(page.statusCode, 200);
  assert.deepEqual(shownIps(page.body), ['192.0.2.4', '192.0.2.2', '192.0.2.1']);
  assert.match(pageText(page.body), /Everything about Priya Shah NHS number 999 000 0018/);
  const toms = await staffGet(app, jar, `/staff/audit/patients/${tom.id}`);
  assert.deepEqual(shownIps(toms.body), ['192.0.2.3', '192.0.2.2']);
  const [read] = (await auditReads(services, 'audit.viewed')).filter((r) => r.patientId === tom.id);
  assert.deepEqual(read!.details, { view: 'patient', filters: { patientId: tom.id } });

  // Another organisation's patient (or nonsense) is not found, on every way in.
  for (const url of [`/staff/audit/patients/${quentin.id}`, '/staff/audit/patients/nope', `/staff/audit?patient=${quentin.id}`, `/staff/audit.csv?patient=${quentin.id}`]) {
    const res = await staffGet(app, jar, url);
    assert.equal(res.statusCode, 404, url);
    assert.doesNotMatch(res.body, /Quentin/);
  }
  // Their admin sees their events only, not ours.
  const theirJar = await signInAsStaff(app, theirStaff.email, theirStaff.password);
  assert.deepEqual(shownIps((await staffGet(app, theirJar, '/staff/audit')).body), ['198.51.100.2', '198.51.100.1']);
  assert.equal((await staffGet(app, theirJar, `/staff/audit/patients/${priya.id}`)).statusCode, 404);
});

test('pages of 100, newest first, with a link to older ones', async (t) => {
  const { app, services, jar, ours } = await auditWorld(t);
  await services.db.insert(auditEvents).values(
    Array.from({ length: AUDIT_PAGE_SIZE }, (_, i) => ({ type: 'inbox.viewed', actorType: 'system' as const, organisationId: ours.id, ip: `10.0.0.${i}`, occurredAt: new Date('2026-11-25T10:00:00Z') })),
  );
  const first = await staffGet(app, jar, '/staff/audit');
  assert.equal((pageText(first.body).match(/IP address 10\.0\.0\./g) ?? []).length, AUDIT_PAGE_SIZE);
  const older = /href="(\/staff\/audit\?before=\d+)"/.exec(first.body.replace(/&amp;/g, '&'))?.[1];
  assert.ok(older, 'a link to older events');
  assert.deepEqual(shownIps((await staffGet(app, jar, older)).body), ['192.0.2.5', '192.0.2.4', '192.0.2.3', '192.0.2.2', '192.0.2.1', '192.0.2.9']);
});

test('bad filters are a 400 with the error summary, never a 500', async (t) => {
  const { app, jar, quentin } = await auditWorld(t);
  const cases: [string, string[]][] = [
    ['from=31/02/2026', ["#from The 'from' date must be a real date, for example 27/11/2026"]],
    ['from=yesterday&to=2026-11-01', ["#from The 'from' date must be a real date, for example 27/11/2026", "#to The 'to' date must be a real date, for example 27/11/2026"]],
    ['from=22/11/2026&to=21/11/2026', ["#to The 'to' date must be the same as or after the 'from' date"]],
    ['staff=00000000-0000-4000-8000-000000000000', ['#staff Select a staff member from the list']],
    ["type=%27%3B--", ['#type Select an event from the list']],
  ];
  for (const [query, expected] of cases) {
    for (const url of [`/staff/audit?${query}`, `/staff/audit.csv?${query}`]) {
      const res = await staffGet(app, jar, url);
      assert.equal(res.statusCode, 400, url);
      assert.deepEqual(errorSummaryItems(res.body), expected, url);
    }
  }
  const unknown = await staffPost(app, jar, '/staff/audit', { nhsNumber: quentin.nhsNumber });
  assert.equal(unknown.statusCode, 400);
  assert.deepEqual(errorSummaryItems(unknown.body), ['#nhsNumber No patient in your organisation has this NHS number']);
  const invalid = await staffPost(app, jar, '/staff/audit', { nhsNumber: '123', from: '1/1/2026', to: '30/13/2026' });
  assert.equal(invalid.statusCode, 400);
  assert.deepEqual(errorSummaryItems(invalid.body), ['#nhsNumber Enter a valid 10-digit NHS number', "#to The 'to' date must be a real date, for example 27/11/2026"]);
  assert.equal((await staffPost(app, jar, '/staff/audit', { _csrf: null, nhsNumber: '' })).statusCode, 403);
});

test('the CSV export: the same filters, an attachment, no-store, formulas defused, and audited', async (t) => {
  const { app, services, jar, priya, admin } = await auditWorld(t);
  const res = await staffGet(app, jar, '/staff/audit.csv');
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/csv; charset=utf-8');
  assert.match(String(res.headers['content-disposition']), /^attachment; filename="audit-trail-\d{4}-\d{2}-\d{2}\.csv"$/);
  assert.equal(res.headers['cache-control'], 'no-store');
  const lines = res.body.trim().split('\n');
  assert.equal(lines[0], 'Time (UTC),Who,What,Event type,Patient,NHS number,IP address,Details');
  // The six seeded events, the admin's sign-in and this export itself, newest first.
  assert.deepEqual(lines.slice(1).map((l) => /^[^,]+,[^,]*,[^,]*,([a-z_.]+),/.exec(l)?.[1]), [
    'audit.exported',
    'staff.signed_in',
    'template.created',
    'questionnaire.reminder_sent',
    'link.opened',
    'patient.searched',
    'patient.viewed',
    'inbox.viewed',
  ]);
  assert.doesNotMatch(res.body, /198\.51\.100|Quentin|Hal Hillside/);
  // Every cell that starts like a formula gets a quote first.
  assert.match(res.body, /^2026-11-21T10:00:00\.000Z,'=cmd\|' \/C calc'!A0,Searched for patients \(2 found\),patient\.searched,,,192\.0\.2\.2,/m);
  assert.match(res.body, /^2026-11-22T10:00:00\.000Z,The patient \(secure link\),Opened the secure link,link\.opened,'\+SUM\(1\) Evans,9990000026,192\.0\.2\.3,\{\}$/m);
  assert.match(res.body, /Added a message template: @SUM\(A1\)/);

  const filtered = await staffGet(app, jar, `/staff/audit.csv?patient=${priya.id}&type=patient.viewed`);
  assert.equal(filtered.body.trim().split('\n').length, 2);
  assert.match(filtered.body, /Ada Admin,Looked at a patient's details,patient\.viewed,Priya Shah,9990000018,192\.0\.2\.1/);

  const exports = await auditReads(services, 'audit.exported');
  assert.equal(exports.length, 2);
  assert.deepEqual(exports[0]!.details, { filters: {} });
  assert.deepEqual(exports[1]!.details, { filters: { patientId: priya.id, type: 'patient.viewed' } });
  assert.equal(exports[1]!.patientId, priya.id);
  assert.equal(exports[1]!.actorId, admin.id);
});

test('spreadsheetSafe quotes every formula start; parseUkDate knows real London days', () => {
  for (const start of ['=', '+', '-', '@', '\t', '\r']) assert.equal(spreadsheetSafe(`${start}1+1`), `'${start}1+1`);
  assert.equal(spreadsheetSafe("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
  assert.equal(spreadsheetSafe('Plain 1+1'), 'Plain 1+1');
  assert.equal(spreadsheetSafe(''), '');
  assert.deepEqual(parseUkDate('1/8/2026'), { start: new Date('2026-07-31T23:00:00Z'), end: new Date('2026-08-01T23:00:00Z') });
  // The day the clocks go back is 25 hours long.
  assert.deepEqual(parseUkDate('25/10/2026'), { start: new Date('2026-10-24T23:00:00Z'), end: new Date('2026-10-26T00:00:00Z') });
  for (const bad of ['29/2/2026', '0/1/2026', '1/1/26', '2026-01-01', '']) assert.equal(parseUkDate(bad), undefined, bad);
  assert.ok(parseUkDate('29/2/2028'));
});

test('clinicians and receptionists get 403 on every audit page', async (t) => {
  const { app, services, ours, priya } = await auditWorld(t);
  for (const role of ['clinician', 'receptionist'] as const) {
    const member = await createTestStaff(services, ours.id, { role });
    const memberJar = await signInAsStaff(app, member.email, member.password);
    for (const url of ['/staff/audit', '/staff/audit.csv', `/staff/audit/patients/${priya.id}`]) {
      const res = await staffGet(app, memberJar, url);
      assert.equal(res.statusCode, 403, `${role} ${url}`);
      assert.doesNotMatch(res.body, /192\.0\.2/);
    }
    assert.equal((await staffPost(app, memberJar, '/staff/audit', { nhsNumber: priya.nhsNumber })).statusCode, 403);
  }
  assert.equal((await staffGet(app, new CookieJar(), '/staff/audit')).statusCode, 303);
  assert.equal((await auditReads(services, 'audit.viewed')).length, 0);
});

test('on PostgreSQL the filtered queries use the audit indexes', { skip: databaseKind !== 'postgres' && 'EXPLAIN is checked on PostgreSQL' }, async (t) => {
  const { services, ours, admin, priya } = await auditWorld(t);
  // A trail of some size, mostly other organisations' (as in a shared database), with statistics: the
  // planner's choices on a handful of rows say nothing.
  await services.db.execute(sql`
    INSERT INTO audit_events (type, actor_type, actor_id, organisation_id, patient_id, details, occurred_at)
    SELECT CASE WHEN n % 10 = 0 THEN 'patient.searched' ELSE 'patient.viewed' END, 'staff', 'staff-' || (n % 50),
           CASE WHEN n % 200 = 0 THEN ${ours.id}::uuid ELSE gen_random_uuid() END,
           CASE WHEN n % 10 = 0 THEN NULL ELSE gen_random_uuid() END,
           CASE WHEN n % 10 = 0 THEN jsonb_build_object('patientIds', jsonb_build_array(gen_random_uuid())) ELSE '{}'::jsonb END,
           now() - n * interval '1 minute'
    FROM generate_series(1, 20000) AS n`);
  await services.db.execute(sql`ANALYZE audit_events`);
  await services.db.execute(sql`ANALYZE conversations`);
  const plan = async (filters: Parameters<typeof auditEventsQuery>[0]) => {
    const rows = await queryRows<{ 'QUERY PLAN': string }>(services.db, sql`EXPLAIN ${auditEventsQuery(filters, { limit: 101 })}`);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  };
  // Either index led by the organisation serves it (the planner picks between equals).
  const byOrganisation = /Index Scan (Backward )?using audit_events_org(_actor)?_idx|Bitmap Index Scan on audit_events_org(_actor)?_idx/;
  for (const filters of [{}, { type: 'patient.viewed' }, { from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-12-01T00:00:00Z') }]) {
    const organisationPlan = await plan({ organisationId: ours.id, ...filters });
    assert.match(organisationPlan, byOrganisation, JSON.stringify(filters));
    assert.doesNotMatch(organisationPlan, /Seq Scan on audit_events/);
  }
  assert.match(await plan({ organisationId: ours.id, staffId: admin.id }), /audit_events_org_actor_idx/);
  const patientPlan = await plan({ organisationId: ours.id, patientId: priya.id });
  assert.match(patientPlan, /audit_events_patient_idx/);
  assert.match(patientPlan, /audit_events_searched_patients_idx/);
  assert.match(patientPlan, /audit_events_conversation_idx/);
  assert.doesNotMatch(patientPlan, /Seq Scan on audit_events/);
});

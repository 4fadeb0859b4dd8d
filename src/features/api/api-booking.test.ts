// The integrators' API for booking: GET /api/v1/appointment-types (the ids), GET
// /api/v1/booking-slots (free times: future, not booked, blocked or held), POST
// /api/v1/booking-invitations (text a patient a link to book) and GET /api/v1/bookings (what was
// booked or cancelled), each scoped to the key's organisation, with problems for bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestClinic, createTestInvitation, testNhsNumber, type TestClinic, asThePatient, invitationOf } from '../../../test/helpers/booking.ts';
import { createTestPatient } from '../../../test/helpers/factories.ts';
import { auditEvents, conversations } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import { bookTime, cancelByPatient, holdTime } from '../booking/booking.service.ts';
import { setSlotBlock } from '../booking/clinic-setup.service.ts';
import { createApiKey } from './api-keys.service.ts';

const DAY = '2026-12-03'; // the test clinic's day (test clock: 2026-11-26T10:00Z)

async function keyFor(services: Services, organisationId: string) {
  const { key, apiKey } = await createApiKey(services.db, { organisationId, name: 'Test integration' });
  return { id: apiKey.id, auth: { authorization: `Bearer ${key}` } };
}

type ProblemBody = { type: string; status: number; detail: string; errors?: Array<{ field: string; message: string }> };

function assertProblem(res: LightMyRequestResponse, status: number): ProblemBody {
  assert.equal(res.statusCode, status, res.body.slice(0, 300));
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json() as ProblemBody;
  assert.equal(body.status, status);
  assert.ok(body.detail.length > 0);
  return body;
}

/** A 400 that names `field` with words matching `message`. */
function assertFieldError(res: LightMyRequestResponse, field: string, message: RegExp) {
  const body = assertProblem(res, 400);
  const entry = body.errors?.find((e) => e.field === field);
  assert.ok(entry, `${field} named in ${JSON.stringify(body.errors)}`);
  assert.match(entry.message, message);
}

const get = (app: FastifyInstance, auth: Record<string, string> | undefined, url: string) => app.inject({ method: 'GET', url, headers: auth ?? {} });
const invite = (app: FastifyInstance, auth: Record<string, string> | undefined, payload: unknown) =>
  app.inject({ method: 'POST', url: '/api/v1/booking-invitations', headers: auth ?? {}, payload: payload as object });
const slotsUrl = (clinic: TestClinic, from = DAY, to = DAY, extra = '') => `/api/v1/booking-slots?appointmentTypeId=${clinic.type.id}&from=${from}&to=${to}${extra}`;


const patientOf = asThePatient;

type SlotJson = { id: string; start: string; end: string; clinician: { id: string; name: string; role: string }; location: { id: string; name: string } };
type BookingJson = { id: string; invitationId: string; status: string; patient: { nhsNumber: string }; start: string; end: string; cancelledBy: string | null; cancelReason: string | null } & Record<string, unknown>;

test('booking API: types, free slots, an invitation, and a booking seen in /bookings and gone from /booking-slots', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const key = await keyFor(services, clinic.organisation.id);

  // The ids an integrator needs.
  const types = await get(app, key.auth, '/api/v1/appointment-types');
  assert.equal(types.statusCode, 200, types.body);
  assert.deepEqual(types.json(), {
    appointmentTypes: [{ id: clinic.type.id, name: 'Flu vaccination', lengthMinutes: 10, mode: 'face_to_face', cancelCutoffMinutes: 60 }],
    clinicians: [{ id: clinic.clinician.id, name: 'Sam Patel', role: 'Practice nurse' }],
    locations: [{ id: clinic.location.id, name: 'Riverside Surgery', address: '1 River Street, Leeds LS1 1AA', phone: '01632 960 001' }],
  });

  // Free slots: 18 ten-minute times, as UTC instants (December: London is on UTC).
  const free = async (url = slotsUrl(clinic)) => {
    const res = await get(app, key.auth, url);
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { slots: SlotJson[] }).slots;
  };
  const all = await free();
  assert.equal(all.length, 18);
  assert.deepEqual(all[0], {
    id: clinic.slots[0]!.id,
    start: '2026-12-03T09:00:00.000Z',
    end: '2026-12-03T09:10:00.000Z',
    clinician: { id: clinic.clinician.id, name: 'Sam Patel', role: 'Practice nurse' },
    location: { id: clinic.location.id, name: 'Riverside Surgery' },
  });
  assert.ok(all.every((s) => s.start.endsWith('Z') && s.end.endsWith('Z')));
  assert.equal((await free(slotsUrl(clinic, DAY, DAY, `&clinicianId=${clinic.clinician.id}`))).length, 18);
  assert.equal((await free(slotsUrl(clinic, '2026-12-04', '2026-12-10'))).length, 0, 'dates are London days, both included');
  const listed = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'api.booking_slots_listed'));
  assert.equal(listed.length, 3);
  assert.equal(listed[0]!.actorId, key.id);
  assert.deepEqual(listed[0]!.details, { appointmentTypeId: clinic.type.id, from: DAY, to: DAY, count: 18 });

  // An invitation through the API.
  const patient = await createTestPatient(services, clinic.organisation.id, { nhsNumber: testNhsNumber(1) });
  const sent = await invite(app, key.auth, { nhsNumber: patient.nhsNumber, appointmentTypeId: clinic.type.id, clinicianIds: [clinic.clinician.id], earliest: '2026-12-01', latest: '2026-12-18' });
  assert.equal(sent.statusCode, 201, sent.body);
  const created = sent.json();
  assert.equal(sent.headers.location, `/api/v1/booking-invitations/${created.id}`);
  assert.equal(created.status, 'queued');
  assert.deepEqual(created.appointmentType, { id: clinic.type.id, name: 'Flu vaccination' });
  assert.deepEqual([created.earliest, created.latest], ['2026-12-01', '2026-12-18']);
  assert.equal(created.createdAt, clock.now().toISOString());
  assert.ok(Date.parse(created.linkExpiresAt) > clock.now().getTime());
  const [conversation] = await services.db.select().from(conversations).where(eq(conversations.id, created.id));
  assert.equal(conversation!.kind, 'booking');
  assert.equal(conversation!.patientId, patient.id);
  const sentAudit = await services.db.select().from(auditEvents).where(and(eq(auditEvents.conversationId, created.id), eq(auditEvents.type, 'booking.invited')));
  assert.deepEqual(sentAudit.map((a) => [a.actorType, a.actorId]), [['api_key', key.id]]);
  // Without dates: from today, 6 weeks.
  const defaults = await invite(app, key.auth, { nhsNumber: patient.nhsNumber, appointmentTypeId: clinic.type.id });
  assert.equal(defaults.statusCode, 201, defaults.body);
  assert.deepEqual([defaults.json().earliest, defaults.json().latest], ['2026-11-26', '2027-01-06']);

  // A booking (made by a patient) leaves the free list and shows in /bookings; a held time and a
  // blocked one are not free either.
  const a = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(2) } });
  const b = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(3) } });
  const booked = await bookTime(services, { invitation: await invitationOf(services, a), slotId: clinic.slots[0]!.id, ...patientOf(a) });
  assert.ok('booked' in booked);
  assert.ok('held' in (await holdTime(services, await invitationOf(services, b), clinic.slots[1]!.id)));
  await setSlotBlock(services, { organisationId: clinic.organisation.id, staffId: clinic.staffId, ip: '127.0.0.1' }, clinic.slots[2]!.id, true);
  const after = await free();
  assert.equal(after.length, 15);
  assert.ok(!after.some((s) => [0, 1, 2].some((i) => s.id === clinic.slots[i]!.id)));

  const bookings = async (query: string) => {
    const res = await get(app, key.auth, `/api/v1/bookings?${query}`);
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { bookings: BookingJson[] }).bookings;
  };
  const [one, ...none] = await bookings(`from=${DAY}&to=${DAY}`);
  assert.deepEqual(none, []);
  assert.deepEqual(one, {
    id: booked.booked.booking.id,
    invitationId: a.conversationId,
    status: 'booked',
    patient: { nhsNumber: testNhsNumber(2) },
    start: '2026-12-03T09:00:00.000Z',
    end: '2026-12-03T09:10:00.000Z',
    clinician: { id: clinic.clinician.id, name: 'Sam Patel', role: 'Practice nurse' },
    location: { id: clinic.location.id, name: 'Riverside Surgery' },
    appointmentType: { id: clinic.type.id, name: 'Flu vaccination' },
    bookedAt: clock.now().toISOString(),
    cancelledAt: null,
    cancelledBy: null,
    cancelReason: null,
  });
  assert.deepEqual(await bookings('from=2026-12-04&to=2026-12-31'), []);

  // Cancelled: gone by default, listed with includeCancelled=true, with who and why.
  const cancelled = await cancelByPatient(services, { invitation: await invitationOf(services, a), reason: 'Feeling better', ...patientOf(a) });
  assert.ok('cancelled' in cancelled);
  assert.deepEqual(await bookings(`from=${DAY}&to=${DAY}`), []);
  assert.deepEqual(await bookings(`from=${DAY}&to=${DAY}&includeCancelled=false`), []);
  const [gone] = await bookings(`from=2026-11-30&to=${DAY}&includeCancelled=true`);
  assert.deepEqual([gone!.id, gone!.status, gone!.cancelledBy, gone!.cancelReason, gone!.cancelledAt], [one!.id, 'cancelled', 'patient', 'Feeling better', clock.now().toISOString()]);
  assert.ok((await free()).some((s) => s.id === clinic.slots[0]!.id), 'a cancelled time is free again');

  // One invitation: waiting, then booked, then cancelled, with its history.
  const invitation = async (id: string) => {
    const res = await get(app, key.auth, `/api/v1/booking-invitations/${id}`);
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { status: string; booking: BookingJson | null; history: BookingJson[]; linkExpiresAt: string };
  };
  assert.deepEqual((({ status, booking, history }) => ({ status, booking, history }))(await invitation(created.id)), { status: 'waiting', booking: null, history: [] });
  const gotA = await invitation(a.conversationId);
  assert.equal(gotA.status, 'cancelled');
  assert.deepEqual(gotA.history.map((h) => [h.id, h.status, h.cancelledBy]), [[one!.id, 'cancelled', 'patient']]);
  const rebooked = await bookTime(services, { invitation: await invitationOf(services, a), slotId: clinic.slots[5]!.id, ...patientOf(a) });
  assert.ok('booked' in rebooked);
  const again = await invitation(a.conversationId);
  assert.equal(again.status, 'booked');
  assert.equal(again.booking!.id, rebooked.booked.booking.id);
  assert.deepEqual(again.history.map((h) => h.status), ['booked', 'cancelled'], 'newest first');
  assert.equal(again.linkExpiresAt, again.booking!.end, 'the link works until the appointment');
  assertProblem(await get(app, key.auth, '/api/v1/booking-invitations/not-a-uuid'), 404);
  const otherOrg = await createTestClinic(services);
  const otherKey = await keyFor(services, otherOrg.organisation.id);
  assertProblem(await get(app, otherKey.auth, `/api/v1/booking-invitations/${a.conversationId}`), 404);
  assertProblem(await get(app, undefined, `/api/v1/booking-invitations/${a.conversationId}`), 401);
  // The booking made again is the one now booked: set it aside for the lists below.
  await cancelByPatient(services, { invitation: await invitationOf(services, a), ...patientOf(a) });

  // Each list is audited with ids only: no NHS number, name or reason.
  const lists = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'api.bookings_listed')).orderBy(auditEvents.id);
  assert.equal(lists.length, 5);
  assert.deepEqual(lists[0]!.details, { from: DAY, to: DAY, includeCancelled: false, bookingIds: [one!.id] });
  assert.deepEqual(lists.at(-1)!.details, { from: '2026-11-30', to: DAY, includeCancelled: true, bookingIds: [one!.id] });
  assert.ok(lists.every((l) => l.actorType === 'api_key' && l.actorId === key.id && l.organisationId === clinic.organisation.id));
  assert.doesNotMatch(JSON.stringify(lists.map((l) => l.details)), new RegExp(`${testNhsNumber(2)}|Feeling better`));

  // Times already past are not free.
  clock.advance(Date.parse('2026-12-03T11:05:00Z') - clock.now().getTime());
  assert.deepEqual((await free()).map((s) => s.start), ['2026-12-03T11:10:00.000Z', '2026-12-03T11:20:00.000Z', '2026-12-03T11:30:00.000Z', '2026-12-03T11:40:00.000Z', '2026-12-03T11:50:00.000Z']);
});

test("booking API: bad queries and bodies get 400 problems naming the field, no key gets 401, and another organisation's key sees nothing", async (t) => {
  const { app, services, close } = await createTestApp({ now: new TestClock().now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const key = await keyFor(services, clinic.organisation.id);
  const patient = await createTestPatient(services, clinic.organisation.id, { nhsNumber: testNhsNumber(1) });
  const booked = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(2) } });
  assert.ok('booked' in (await bookTime(services, { invitation: await invitationOf(services, booked), slotId: clinic.slots[0]!.id, ...patientOf(booked) })));

  // GET /booking-slots
  const slots = (query: string) => get(app, key.auth, `/api/v1/booking-slots?${query}`);
  const type = `appointmentTypeId=${clinic.type.id}`;
  assertFieldError(await slots(`from=${DAY}&to=${DAY}`), 'appointmentTypeId', /appointment types/);
  assertFieldError(await slots(`appointmentTypeId=not-a-uuid&from=${DAY}&to=${DAY}`), 'appointmentTypeId', /appointment types/);
  assertFieldError(await slots(`${type}&to=${DAY}`), 'from', /YYYY-MM-DD/);
  assertFieldError(await slots(`${type}&from=03/12/2026&to=${DAY}`), 'from', /YYYY-MM-DD/);
  assertFieldError(await slots(`${type}&from=2026-02-30&to=${DAY}`), 'from', /real date/);
  assertFieldError(await slots(`${type}&from=${DAY}&to=2026-12-02`), 'to', /same as or after/);
  assertFieldError(await slots(`${type}&from=${DAY}&to=2027-02-25`), 'to', /within 12 weeks/);
  assert.equal((await slots(`${type}&from=${DAY}&to=2027-02-24`)).statusCode, 200, '12 weeks exactly is allowed');
  assertFieldError(await slots(`${type}&from=${DAY}&to=${DAY}&clinicianId=nope`), 'clinicianId', /clinicians/);
  assertFieldError(await slots(`${type}&from=${DAY}&to=${DAY}&clinicianId=${clinic.type.id}`), 'clinicianId', /no clinician with this id/);
  assertFieldError(await slots(`${type}&from=${DAY}&to=${DAY}&limit=5`), 'limit', /not allowed/);
  assertFieldError(await slots(`${type}&from=${DAY}&from=${DAY}&to=${DAY}`), 'from', /must be a string/);

  // GET /bookings
  const list = (query: string) => get(app, key.auth, `/api/v1/bookings?${query}`);
  assertFieldError(await list(`to=${DAY}`), 'from', /YYYY-MM-DD/);
  assertFieldError(await list(`from=${DAY}&to=2027-03-01`), 'to', /within 12 weeks/);
  assertFieldError(await list(`from=${DAY}&to=${DAY}&includeCancelled=yes`), 'includeCancelled', /'true' or 'false'/);

  // POST /booking-invitations
  const body = { nhsNumber: patient.nhsNumber, appointmentTypeId: clinic.type.id };
  assertFieldError(await invite(app, key.auth, { ...body, appointmentTypeId: 'flu' }), 'appointmentTypeId', /appointment types/);
  assertFieldError(await invite(app, key.auth, { ...body, appointmentTypeId: clinic.clinician.id }), 'appointmentTypeId', /no appointment type with this id/);
  assertFieldError(await invite(app, key.auth, { ...body, clinicianIds: clinic.clinician.id }), 'clinicianIds', /array/);
  assertFieldError(await invite(app, key.auth, { ...body, clinicianIds: [clinic.clinician.id, clinic.type.id] }), 'clinicianIds.1', /no clinician with this id/);
  assertFieldError(await invite(app, key.auth, { ...body, earliest: '2026-11-25' }), 'earliest', /today or in the future/);
  assertFieldError(await invite(app, key.auth, { ...body, earliest: '2026-12-10', latest: '2026-12-09' }), 'latest', /same as or after/);
  assertFieldError(await invite(app, key.auth, { ...body, earliest: '2026-12-01', latest: '2027-03-01' }), 'latest', /within 12 weeks/);
  assertFieldError(await invite(app, key.auth, { ...body, latest: '1 December' }), 'latest', /YYYY-MM-DD/);
  assertFieldError(await invite(app, key.auth, { ...body, extra: 1 }), 'extra', /not allowed/);
  assertFieldError(await invite(app, key.auth, { appointmentTypeId: clinic.type.id }), 'nhsNumber', /NHS number/);
  const unknownPatient = assertProblem(await invite(app, key.auth, { ...body, nhsNumber: testNhsNumber(9) }), 404);
  assert.match(unknownPatient.detail, /no patient with this NHS number/);
  const sentBefore = await services.db.select().from(conversations);
  assert.equal(sentBefore.length, 1, 'nothing refused was sent');

  // No key, or a bad one.
  for (const [method, url] of [
    ['GET', '/api/v1/appointment-types'],
    ['GET', `/api/v1/booking-slots?${type}&from=${DAY}&to=${DAY}`],
    ['POST', '/api/v1/booking-invitations'],
    ['GET', `/api/v1/bookings?from=${DAY}&to=${DAY}`],
  ] as const) {
    assertProblem(await app.inject({ method, url, ...(method === 'POST' && { payload: body }) }), 401);
    assertProblem(await app.inject({ method, url, headers: { authorization: 'Bearer dck_nope_nope' }, ...(method === 'POST' && { payload: body }) }), 401);
  }

  // Another organisation (with a clinic of its own) sees none of this one's.
  const other = await createTestClinic(services);
  const otherKey = await keyFor(services, other.organisation.id);
  await createTestPatient(services, other.organisation.id, { nhsNumber: patient.nhsNumber });
  const theirTypes = (await get(app, otherKey.auth, '/api/v1/appointment-types')).json();
  assert.deepEqual(theirTypes.appointmentTypes.map((x: { id: string }) => x.id), [other.type.id]);
  assert.deepEqual(theirTypes.clinicians.map((x: { id: string }) => x.id), [other.clinician.id]);
  assert.deepEqual(theirTypes.locations.map((x: { id: string }) => x.id), [other.location.id]);
  assertFieldError(await get(app, otherKey.auth, slotsUrl(clinic)), 'appointmentTypeId', /no appointment type with this id/);
  assertFieldError(await get(app, otherKey.auth, slotsUrl(other, DAY, DAY, `&clinicianId=${clinic.clinician.id}`)), 'clinicianId', /no clinician/);
  const theirSlots = (await get(app, otherKey.auth, slotsUrl(other))).json() as { slots: SlotJson[] };
  assert.equal(theirSlots.slots.length, 18);
  assert.ok(theirSlots.slots.every((s) => s.clinician.id === other.clinician.id));
  const theirBookings = await get(app, otherKey.auth, `/api/v1/bookings?from=${DAY}&to=${DAY}&includeCancelled=true`);
  assert.deepEqual(theirBookings.json(), { bookings: [] });
  assertFieldError(await invite(app, otherKey.auth, body), 'appointmentTypeId', /no appointment type with this id/);
  assertFieldError(await invite(app, otherKey.auth, { ...body, appointmentTypeId: other.type.id, clinicianIds: [clinic.clinician.id] }), 'clinicianIds.0', /no clinician/);
  assert.equal((await services.db.select().from(conversations)).length, 1, "nothing was sent with the other organisation's ids");
  assert.equal((await invite(app, otherKey.auth, { ...body, appointmentTypeId: other.type.id })).statusCode, 201, 'control: its own type works');

  // The OpenAPI document lists the four endpoints, with their problems.
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  for (const path of ['/api/v1/appointment-types', '/api/v1/booking-slots', '/api/v1/booking-invitations', '/api/v1/bookings']) assert.ok(doc.paths[path], path);
  const post = doc.paths['/api/v1/booking-invitations'].post;
  for (const status of ['201', '400', '401', '404', '413', '415', '429', '503']) assert.ok(post.responses[status], `invite ${status}`);
  for (const path of ['/api/v1/booking-slots', '/api/v1/bookings']) {
    for (const status of ['200', '400', '401', '429']) assert.ok(doc.paths[path].get.responses[status], `${path} ${status}`);
    assert.match(doc.paths[path].get.description, /booked at most once/);
    assert.match(doc.paths[path].get.description, /database enforces/);
  }
  assert.equal(doc.components.schemas.BookingInvitationCreate.additionalProperties, false);
  assert.deepEqual(doc.components.schemas.BookingInvitationCreate.required, ['nhsNumber', 'appointmentTypeId']);
  assert.deepEqual(Object.keys(post.requestBody.content['application/json'].example).sort(), Object.keys(doc.components.schemas.BookingInvitationCreate.properties).sort());
  assert.deepEqual(Object.keys(post.responses['201'].content['application/json'].example).sort(), Object.keys(doc.components.schemas.BookingInvitationCreated.properties).sort());
  const bookingExample = doc.paths['/api/v1/bookings'].get.responses['200'].content['application/json'].example.bookings[0];
  assert.deepEqual(Object.keys(bookingExample).sort(), Object.keys(doc.components.schemas.Bookings.properties.bookings.items.properties).sort());
  for (const ref of JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) assert.ok(doc.components.schemas[ref[1]!], ref[1]);
});

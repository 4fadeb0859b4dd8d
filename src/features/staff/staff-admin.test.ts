// Admins managing their organisation's staff: adding people with a set-up link or a temporary password,
// the set-up link itself (once, for 72 hours, never after deactivation), roles and the "always one
// active admin" rule (also under concurrency on PostgreSQL), resetting the second factor, deactivating
// (sessions end at once) and reactivating, the audit trail of each, and who may not do any of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq, inArray, like, sql } from 'drizzle-orm';
import { verify } from '@node-rs/argon2';
import { createTestApp, TestClock, type TestApp } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation, createTestOrganisation, createTestStaff } from '../../../test/helpers/factories.ts';
import { errorSummaryItems, pageText, staffGet, staffPost, STAFF_COOKIE_NAME } from '../../../test/helpers/staff.ts';
import { databaseKind } from '../../../test/helpers/database.ts';
import { auditEvents, conversations, staffSessions, staffSetupTokens, staffUsers } from '../../platform/db/schema.ts';
import { sha256Hex } from '../../platform/crypto/tokens.ts';
import type { Services } from '../../services.ts';
import type { StaffRole } from './permissions.ts';
import { createStaffSession } from './staff-sessions.service.ts';
import { changeRole, deactivateStaff } from './staff-admin.service.ts';

const HOUR = 3_600_000;
const GONE_TEXT = 'This set-up link has expired or has already been used. Ask an admin in your organisation for a new one.';
const NEW_PASSWORD = 'three random words here';

async function start(t: { after: (fn: () => Promise<void>) => void }, secondFactor: 'required' | 'off' = 'off'): Promise<TestApp & { clock: TestClock }> {
  const clock = new TestClock();
  const testApp = await createTestApp({ now: clock.now, config: { STAFF_SECOND_FACTOR: secondFactor } });
  t.after(testApp.close);
  return { ...testApp, clock };
}

/** A browser with a signed-in session for this account (sign-in itself is tested elsewhere). */
async function sessionFor(services: Services, staffUserId: string): Promise<CookieJar> {
  const jar = new CookieJar();
  jar.store(`${STAFF_COOKIE_NAME}=${await createStaffSession(services.db, staffUserId, services.now(), 'signed_in')}`);
  return jar;
}

async function organisationWithAdmin(services: Services) {
  const organisation = await createTestOrganisation(services);
  const admin = await createTestStaff(services, organisation.id, { name: 'Ada Admin', role: 'admin' });
  return { organisation, admin, jar: await sessionFor(services, admin.id) };
}

async function staffAudit(services: Services, organisationId: string) {
  return services.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, organisationId), like(auditEvents.type, 'staff.%')))
    .orderBy(auditEvents.id);
}

async function userRow(services: Services, id: string) {
  const [row] = await services.db.select().from(staffUsers).where(eq(staffUsers.id, id));
  return row!;
}

function linkFrom(html: string): string {
  const m = /id="setup-link">[^<]*\/staff\/set-up\/([A-Za-z0-9_-]+)</.exec(html);
  assert.ok(m, 'no set-up link on the page');
  return m[1]!;
}

async function addWithLink(app: TestApp['app'], jar: CookieJar, fields: Partial<Record<string, string>> = {}) {
  const res = await staffPost(app, jar, '/staff/accounts/new', { name: 'Nia Nurse', email: 'nia.nurse@example.nhs.uk', role: 'clinician', access: 'link', ...fields });
  assert.equal(res.statusCode, 200, res.body);
  return { res, token: linkFrom(res.body) };
}

async function choosePassword(app: TestApp['app'], token: string, password = NEW_PASSWORD, confirmPassword = password, jar = new CookieJar()) {
  await staffGet(app, jar, `/staff/set-up/${token}`);
  const res = await staffPost(app, jar, `/staff/set-up/${token}`, { password, confirmPassword });
  return { res, jar };
}

test('adding with a set-up link: shown once, only its hash kept, 72 hours; using it sets the password and starts an enrol session', async (t) => {
  const { app, services } = await start(t, 'required');
  const { organisation, admin, jar } = await organisationWithAdmin(services);

  const form = await staffGet(app, jar, '/staff/accounts/new');
  assert.equal(form.statusCode, 200);
  assert.match(pageText(form.body), /A one-time set-up link/);
  assert.match(form.body, /value="link" checked/);

  const { res, token } = await addWithLink(app, jar);
  const text = pageText(res.body);
  assert.match(text, /Copy this link and send it to them; it will not be shown again/);
  assert.ok(token.length >= 22);

  const [user] = await services.db.select().from(staffUsers).where(eq(staffUsers.email, 'nia.nurse@example.nhs.uk'));
  assert.equal(user!.organisationId, organisation.id);
  assert.equal(user!.role, 'clinician');
  assert.equal(user!.mustChangePassword, false);
  const tokens = await services.db.select().from(staffSetupTokens).where(eq(staffSetupTokens.staffUserId, user!.id));
  assert.equal(tokens.length, 1);
  assert.equal(tokens[0]!.tokenHash, sha256Hex(token));
  assert.equal(tokens[0]!.createdByStaffId, admin.id);
  assert.equal(tokens[0]!.expiresAt.getTime() - services.now().getTime(), 72 * HOUR);
  assert.ok(!JSON.stringify(tokens).includes(token), 'the token itself is not stored');

  // The set-up page: who it is for, and the password rules.
  const page = await staffGet(app, new CookieJar(), `/staff/set-up/${token}`);
  assert.equal(page.statusCode, 200);
  assert.match(pageText(page.body), /Nia Nurse, nia\.nurse@example\.nhs\.uk/);
  assert.match(pageText(page.body), /three random words/);

  const short = await choosePassword(app, token, 'too short');
  assert.equal(short.res.statusCode, 400);
  assert.deepEqual(errorSummaryItems(short.res.body), ['#password Password must be 12 characters or more']);
  const different = await choosePassword(app, token, NEW_PASSWORD, 'not the same words');
  assert.equal(different.res.statusCode, 400);
  assert.deepEqual(errorSummaryItems(different.res.body), ['#confirmPassword The passwords do not match']);

  const done = await choosePassword(app, token);
  assert.equal(done.res.statusCode, 303);
  assert.equal(done.res.headers.location, '/staff/second-factor/set-up');
  const sessions = await services.db.select().from(staffSessions).where(eq(staffSessions.staffUserId, user!.id));
  assert.deepEqual(sessions.map((s) => s.stage), ['enrol']);
  assert.equal(sessions[0]!.tokenHash, sha256Hex(done.jar.get(STAFF_COOKIE_NAME)!));
  assert.ok(await verify((await userRow(services, user!.id)).passwordHash, NEW_PASSWORD));
  const [used] = await services.db.select().from(staffSetupTokens).where(eq(staffSetupTokens.tokenHash, sha256Hex(token)));
  assert.ok(used!.usedAt);

  // Used once: both the page and a second post are refused, saying nothing about the account.
  for (const again of [await staffGet(app, new CookieJar(), `/staff/set-up/${token}`), (await choosePassword(app, token, 'another password entirely')).res]) {
    assert.equal(again.statusCode, 410);
    assert.match(pageText(again.body), new RegExp(GONE_TEXT.replace(/\./g, '\\.')));
    assert.doesNotMatch(again.body, /nia\.nurse|Nia Nurse/);
  }
  assert.ok(await verify((await userRow(services, user!.id)).passwordHash, NEW_PASSWORD));

  const audit = await staffAudit(services, organisation.id);
  assert.deepEqual(audit.map((a) => [a.type, a.actorId]), [
    ['staff.created', admin.id],
    ['staff.setup_link_issued', admin.id],
    ['staff.setup_link_used', user!.id],
  ]);
  assert.deepEqual(audit[0]!.details, { staffUserId: user!.id, role: 'clinician', access: 'link' });
  assert.ok(!JSON.stringify(audit).includes(token));
});

test('with the second factor off, using a set-up link signs straight in; an expired link and an unknown one are refused', async (t) => {
  const { app, services, clock } = await start(t, 'off');
  const { jar } = await organisationWithAdmin(services);
  const { token } = await addWithLink(app, jar);
  const done = await choosePassword(app, token);
  assert.equal(done.res.statusCode, 303);
  assert.equal(done.res.headers.location, '/staff');
  const [user] = await services.db.select().from(staffUsers).where(eq(staffUsers.email, 'nia.nurse@example.nhs.uk'));
  const sessions = await services.db.select().from(staffSessions).where(eq(staffSessions.staffUserId, user!.id));
  assert.deepEqual(sessions.map((s) => s.stage), ['signed_in']);
  assert.equal((await staffGet(app, done.jar, '/staff')).statusCode, 200);

  const { token: late } = await addWithLink(app, jar, { email: 'late@example.nhs.uk', name: 'Lee Late' });
  clock.advance(72 * HOUR);
  const expired = await staffGet(app, new CookieJar(), `/staff/set-up/${late}`);
  assert.equal(expired.statusCode, 410);
  assert.match(pageText(expired.body), /has expired or has already been used/);
  assert.equal((await choosePassword(app, late)).res.statusCode, 410);

  const unknown = await staffGet(app, new CookieJar(), `/staff/set-up/${'A'.repeat(43)}`);
  assert.equal(unknown.statusCode, 404);
  assert.match(pageText(unknown.body), /has expired or has already been used/);
  assert.equal((await staffGet(app, new CookieJar(), '/staff/set-up/not-a-token')).statusCode, 404);
});

test('wrong set-up tokens are rate-limited per address', async (t) => {
  const { app, services } = await start(t);
  const { jar } = await organisationWithAdmin(services);
  const { token } = await addWithLink(app, jar);
  const statuses: number[] = [];
  for (let i = 0; i < 21; i++) {
    const res = await app.inject({ method: 'GET', url: `/staff/set-up/${String(i).padStart(43, 'x')}`, remoteAddress: '198.51.100.23' });
    statuses.push(res.statusCode);
  }
  assert.deepEqual(statuses, [...Array(20).fill(404), 429]);
  const limited = await app.inject({ method: 'GET', url: `/staff/set-up/${'y'.repeat(43)}`, remoteAddress: '198.51.100.23' });
  assert.equal(limited.statusCode, 429);
  assert.match(pageText(limited.body), /Too many set-up links have been tried/);
  // A real link still opens from there, and other addresses are not affected.
  assert.equal((await app.inject({ method: 'GET', url: `/staff/set-up/${token}`, remoteAddress: '198.51.100.23' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: `/staff/set-up/${'y'.repeat(43)}`, remoteAddress: '198.51.100.24' })).statusCode, 404);
});

test('adding with a temporary password: shown once, must be changed at the first sign-in, no set-up link', async (t) => {
  const { app, services } = await start(t);
  const { organisation, admin, jar } = await organisationWithAdmin(services);
  const res = await staffPost(app, jar, '/staff/accounts/new', { name: 'Rob Reception', email: 'Rob@Example.NHS.uk', role: 'receptionist', access: 'password' });
  assert.equal(res.statusCode, 200);
  assert.match(pageText(res.body), /Copy this password and give it to them; it will not be shown again/);
  const password = /id="temporary-password">([^<]+)</.exec(res.body)?.[1];
  assert.ok(password && password.length >= 12);
  const [user] = await services.db.select().from(staffUsers).where(eq(staffUsers.email, 'rob@example.nhs.uk'));
  assert.equal(user!.role, 'receptionist');
  assert.equal(user!.mustChangePassword, true);
  assert.ok(await verify(user!.passwordHash, password));
  assert.equal((await services.db.select().from(staffSetupTokens).where(eq(staffSetupTokens.staffUserId, user!.id))).length, 0);
  const audit = await staffAudit(services, organisation.id);
  assert.deepEqual(audit.map((a) => [a.type, a.actorId, a.details]), [['staff.created', admin.id, { staffUserId: user!.id, role: 'receptionist', access: 'password' }]]);
  assert.ok(!JSON.stringify(audit).includes(password));
});

test('the add form: each mistake is shown with the form again and nothing is created', async (t) => {
  const { app, services } = await start(t);
  const { organisation, jar } = await organisationWithAdmin(services);
  const elsewhere = await createTestOrganisation(services);
  await createTestStaff(services, elsewhere.id, { email: 'taken@example.nhs.uk' });

  const empty = await staffPost(app, jar, '/staff/accounts/new', { name: '  ', email: 'not an email', role: 'superuser', access: 'link' });
  assert.equal(empty.statusCode, 400);
  assert.deepEqual(errorSummaryItems(empty.body), ['#name Enter a name', '#email Enter an email address, like name@example.nhs.uk', '#role Select a role']);
  assert.match(empty.body, /value="not an email"/);

  const taken = await staffPost(app, jar, '/staff/accounts/new', { name: 'Tam Taken', email: ' TAKEN@example.nhs.uk ', role: 'clinician', access: 'password' });
  assert.equal(taken.statusCode, 400);
  assert.deepEqual(errorSummaryItems(taken.body), ['#email A staff account already uses this email address']);
  assert.match(taken.body, /value="password" checked/);

  const accounts = await services.db.select().from(staffUsers).where(eq(staffUsers.organisationId, organisation.id));
  assert.equal(accounts.length, 1);
  assert.deepEqual(await staffAudit(services, organisation.id), []);
});

test('the list shows only the organisation\'s own staff, with role, authenticator and status', async (t) => {
  const { app, services } = await start(t);
  const { organisation, jar } = await organisationWithAdmin(services);
  const clinician = await createTestStaff(services, organisation.id, { name: 'Cal Clinician', role: 'clinician' });
  await services.db.update(staffUsers).set({ totpEnrolledAt: services.now() }).where(eq(staffUsers.id, clinician.id));
  await createTestStaff(services, organisation.id, { name: 'Dee Gone', role: 'receptionist' });
  await services.db.update(staffUsers).set({ deactivatedAt: services.now() }).where(eq(staffUsers.name, 'Dee Gone'));
  const other = await createTestOrganisation(services);
  await createTestStaff(services, other.id, { name: 'Otto Other' });

  const res = await staffGet(app, jar, '/staff/accounts');
  assert.equal(res.statusCode, 200);
  const text = pageText(res.body);
  assert.match(text, /Ada Admin \(you\).*Admin.*Not set up.*Active/);
  assert.match(text, /Cal Clinician.*Clinician.*Set up.*Active/);
  assert.match(text, /Dee Gone.*Receptionist.*Deactivated/);
  assert.doesNotMatch(text, /Otto Other/);
  assert.match(text, /Add a staff member/);
});

test('changing a role is audited; an admin cannot remove their own admin role', async (t) => {
  const { app, services } = await start(t);
  const { organisation, admin, jar } = await organisationWithAdmin(services);
  const colleague = await createTestStaff(services, organisation.id, { role: 'receptionist' });

  const page = await staffGet(app, jar, `/staff/accounts/${colleague.id}`);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /value="receptionist" checked/);

  const res = await staffPost(app, jar, `/staff/accounts/${colleague.id}/role`, { role: 'admin' });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, `/staff/accounts/${colleague.id}?done=role`);
  assert.equal((await userRow(services, colleague.id)).role, 'admin');
  assert.match(pageText((await staffGet(app, jar, res.headers.location as string)).body), /Role changed/);

  const own = await staffPost(app, jar, `/staff/accounts/${admin.id}/role`, { role: 'clinician' });
  assert.equal(own.statusCode, 400);
  assert.deepEqual(errorSummaryItems(own.body), ['#role You cannot remove your own admin role. Ask another admin to do it.']);
  assert.equal((await userRow(services, admin.id)).role, 'admin');

  const unknown = await staffPost(app, jar, `/staff/accounts/${colleague.id}/role`, { role: 'owner' });
  assert.equal(unknown.statusCode, 400);
  assert.deepEqual(errorSummaryItems(unknown.body), ['#role Select a role']);

  const audit = await staffAudit(services, organisation.id);
  assert.deepEqual(audit.map((a) => [a.type, a.actorId, a.details]), [['staff.role_changed', admin.id, { staffUserId: colleague.id, from: 'receptionist', to: 'admin' }]]);
});

test('two admins demoting (or deactivating) each other at the same moment leave one active admin', async (t) => {
  const { services } = await start(t);
  for (const action of ['demote', 'deactivate'] as const) {
    const organisation = await createTestOrganisation(services);
    const a = await createTestStaff(services, organisation.id, { role: 'admin' });
    const b = await createTestStaff(services, organisation.id, { role: 'admin' });
    const as = (admin: { id: string }) => ({ organisationId: organisation.id, adminId: admin.id, ip: null });
    const run = (actor: { id: string }, target: { id: string }) =>
      action === 'demote' ? changeRole(services, as(actor), target.id, { role: 'clinician' }) : deactivateStaff(services, as(actor), target.id);
    // On PostgreSQL these are two connections racing; PGlite has one, so it checks the rule in sequence.
    const results = await Promise.allSettled([run(a, b), run(b, a)]);
    const succeeded = results.filter((r) => r.status === 'fulfilled' && r.value.ok).length;
    assert.equal(succeeded, 1, `${action} (${databaseKind}): ${JSON.stringify(results.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason))))}`);
    const [row] = await services.db
      .select({ n: sql<number>`count(*)::int` })
      .from(staffUsers)
      .where(and(eq(staffUsers.organisationId, organisation.id), eq(staffUsers.role, 'admin'), sql`${staffUsers.deactivatedAt} is null`));
    assert.equal(row!.n, 1);
    assert.equal((await staffAudit(services, organisation.id)).length, 1);
  }
});

test('resetting the second factor: a confirmation page, then the authenticator, recovery codes and sessions are gone', async (t) => {
  const { app, services } = await start(t);
  const { organisation, admin, jar } = await organisationWithAdmin(services);
  const clinician = await createTestStaff(services, organisation.id, { role: 'clinician' });
  await services.db.update(staffUsers).set({ totpSecretSealed: 'sealed', totpEnrolledAt: services.now(), totpLastStep: 5 }).where(eq(staffUsers.id, clinician.id));
  const theirs = await sessionFor(services, clinician.id);

  const confirm = await staffGet(app, jar, `/staff/accounts/${clinician.id}/reset-second-factor`);
  assert.equal(confirm.statusCode, 200);
  assert.match(pageText(confirm.body), /Reset their authenticator app\?/);
  const res = await staffPost(app, jar, `/staff/accounts/${clinician.id}/reset-second-factor`);
  assert.equal(res.statusCode, 303);
  const row = await userRow(services, clinician.id);
  assert.equal(row.totpSecretSealed, null);
  assert.equal(row.totpEnrolledAt, null);
  assert.equal((await services.db.select().from(staffSessions).where(eq(staffSessions.staffUserId, clinician.id))).length, 0);
  assert.equal((await staffGet(app, theirs, '/staff')).headers.location, '/staff/sign-in');
  const audit = await staffAudit(services, organisation.id);
  assert.deepEqual(audit.map((a) => [a.type, a.actorId]), [['staff.second_factor_reset', admin.id]]);
});

test('deactivating ends the person\'s session at once and kills their set-up link; reactivating lets them back', async (t) => {
  const { app, services } = await start(t);
  const { organisation, admin, jar } = await organisationWithAdmin(services);
  const { token } = await addWithLink(app, jar);
  const [leaver] = await services.db.select().from(staffUsers).where(eq(staffUsers.email, 'nia.nurse@example.nhs.uk'));
  const theirs = await sessionFor(services, leaver!.id);
  assert.equal((await staffGet(app, theirs, '/staff')).statusCode, 200);

  // Two conversations left with them, one with a colleague: theirs go back to Unassigned.
  const theirsA = await createTestConversation(services, { organisation });
  const theirsB = await createTestConversation(services, { organisation, patient: { nhsNumber: '9990000026', familyName: 'Evans' } });
  const colleagues = await createTestConversation(services, { organisation, patient: { nhsNumber: '9990000034', familyName: 'Okafor' } });
  await services.db.update(conversations).set({ assignedStaffId: leaver!.id }).where(inArray(conversations.id, [theirsA.conversationId, theirsB.conversationId]));
  await services.db.update(conversations).set({ assignedStaffId: admin.id }).where(eq(conversations.id, colleagues.conversationId));

  const confirm = await staffGet(app, jar, `/staff/accounts/${leaver!.id}/deactivate`);
  assert.equal(confirm.statusCode, 200);
  assert.match(pageText(confirm.body), /Deactivate Nia Nurse's account\?/);
  const res = await staffPost(app, jar, `/staff/accounts/${leaver!.id}/deactivate`);
  assert.equal(res.statusCode, 303);
  assert.ok((await userRow(services, leaver!.id)).deactivatedAt);
  const next = await staffGet(app, theirs, '/staff');
  assert.equal(next.statusCode, 303);
  assert.equal(next.headers.location, '/staff/sign-in');
  assert.equal((await staffGet(app, new CookieJar(), `/staff/set-up/${token}`)).statusCode, 410);
  const assignees = await services.db.select({ id: conversations.id, to: conversations.assignedStaffId }).from(conversations);
  assert.deepEqual(
    Object.fromEntries(assignees.map((r) => [r.id, r.to])),
    { [theirsA.conversationId]: null, [theirsB.conversationId]: null, [colleagues.conversationId]: admin.id },
  );
  const [deactivated] = (await staffAudit(services, organisation.id)).filter((a) => a.type === 'staff.deactivated');
  assert.deepEqual(new Set((deactivated!.details as { unassignedConversationIds: string[] }).unassignedConversationIds), new Set([theirsA.conversationId, theirsB.conversationId]));
  const noLink = await staffPost(app, jar, `/staff/accounts/${leaver!.id}/set-up-link`);
  assert.equal(noLink.statusCode, 400);
  assert.match(pageText(noLink.body), /Reactivate it before sending a set-up link/);

  const self = await staffPost(app, jar, `/staff/accounts/${admin.id}/deactivate`);
  assert.equal(self.statusCode, 400);
  assert.match(pageText(self.body), /You cannot deactivate your own account/);
  assert.equal((await userRow(services, admin.id)).deactivatedAt, null);
  assert.match(pageText((await staffGet(app, jar, `/staff/accounts/${admin.id}/deactivate`)).body), /You cannot deactivate your own account/);

  const back = await staffPost(app, jar, `/staff/accounts/${leaver!.id}/reactivate`);
  assert.equal(back.statusCode, 303);
  assert.equal((await userRow(services, leaver!.id)).deactivatedAt, null);
  const audit = await staffAudit(services, organisation.id);
  assert.deepEqual(audit.map((a) => [a.type, a.actorId]).slice(2), [['staff.deactivated', admin.id], ['staff.reactivated', admin.id]]);
});

test('a new set-up link (a forgotten password): the earlier one stops working, the new one sets a new password', async (t) => {
  const { app, services } = await start(t);
  const { organisation, admin, jar } = await organisationWithAdmin(services);
  const { token: first } = await addWithLink(app, jar);
  const [user] = await services.db.select().from(staffUsers).where(eq(staffUsers.email, 'nia.nurse@example.nhs.uk'));
  const confirm = await staffGet(app, jar, `/staff/accounts/${user!.id}/set-up-link`);
  assert.equal(confirm.statusCode, 200);
  assert.match(pageText(confirm.body), /Any earlier set-up link for this account stops working/);
  const res = await staffPost(app, jar, `/staff/accounts/${user!.id}/set-up-link`);
  assert.equal(res.statusCode, 200);
  assert.match(pageText(res.body), /it will not be shown again/);
  const second = linkFrom(res.body);
  assert.equal((await staffGet(app, new CookieJar(), `/staff/set-up/${first}`)).statusCode, 410);
  assert.equal((await choosePassword(app, second)).res.statusCode, 303);
  const audit = await staffAudit(services, organisation.id);
  assert.deepEqual(audit.map((a) => [a.type, a.actorId]), [
    ['staff.created', admin.id],
    ['staff.setup_link_issued', admin.id],
    ['staff.setup_link_issued', admin.id],
    ['staff.setup_link_used', user!.id],
  ]);
});

function everyRoute(staffId: string): Array<[method: 'GET' | 'POST', url: string]> {
  return [
    ['GET', '/staff/accounts'],
    ['GET', '/staff/accounts/new'],
    ['POST', '/staff/accounts/new'],
    ['GET', `/staff/accounts/${staffId}`],
    ['POST', `/staff/accounts/${staffId}/role`],
    ['GET', `/staff/accounts/${staffId}/reset-second-factor`],
    ['POST', `/staff/accounts/${staffId}/reset-second-factor`],
    ['GET', `/staff/accounts/${staffId}/set-up-link`],
    ['POST', `/staff/accounts/${staffId}/set-up-link`],
    ['GET', `/staff/accounts/${staffId}/deactivate`],
    ['POST', `/staff/accounts/${staffId}/deactivate`],
    ['POST', `/staff/accounts/${staffId}/reactivate`],
  ];
}

const form = { name: 'Someone New', email: 'someone.new@example.nhs.uk', role: 'admin', access: 'link' };

test('clinicians and receptionists get 403 on every staff-account page and change nothing', async (t) => {
  const { app, services } = await start(t);
  const { organisation, admin } = await organisationWithAdmin(services);
  for (const role of ['clinician', 'receptionist'] as StaffRole[]) {
    const member = await createTestStaff(services, organisation.id, { role });
    const jar = await sessionFor(services, member.id);
    for (const [method, url] of everyRoute(admin.id)) {
      const res = method === 'GET' ? await staffGet(app, jar, url) : await staffPost(app, jar, url, url.endsWith('/role') ? { role: 'clinician' } : form);
      assert.equal(res.statusCode, 403, `${role} ${method} ${url}`);
      assert.match(pageText(res.body), /You cannot use this page/);
    }
    // …and the menu does not offer the page.
    assert.doesNotMatch((await staffGet(app, jar, '/staff')).body, /href="\/staff\/accounts"/);
  }
  assert.equal((await userRow(services, admin.id)).role, 'admin');
  assert.equal((await userRow(services, admin.id)).deactivatedAt, null);
  assert.equal((await services.db.select().from(staffUsers).where(eq(staffUsers.email, form.email))).length, 0);
  assert.deepEqual(await staffAudit(services, organisation.id), []);
});

test('another organisation\'s admin gets 404 for every account page and changes nothing; a staff id that is not a uuid is 404', async (t) => {
  const { app, services } = await start(t);
  const { organisation } = await organisationWithAdmin(services);
  const clinician = await createTestStaff(services, organisation.id, { role: 'clinician' });
  await services.db.update(staffUsers).set({ totpEnrolledAt: services.now(), totpSecretSealed: 'sealed' }).where(eq(staffUsers.id, clinician.id));
  const theirSession = await sessionFor(services, clinician.id);
  const other = await organisationWithAdmin(services);

  for (const [method, url] of everyRoute(clinician.id).filter(([, url]) => url.includes(clinician.id))) {
    const res = method === 'GET' ? await staffGet(app, other.jar, url) : await staffPost(app, other.jar, url, { role: 'admin' });
    assert.equal(res.statusCode, 404, `${method} ${url}`);
    assert.doesNotMatch(res.body, new RegExp(clinician.name));
  }
  for (const url of ['/staff/accounts/not-a-uuid', '/staff/accounts/00000000-0000-0000-0000-000000000000', "/staff/accounts/'%20or%201=1/role"]) {
    const res = url.endsWith('/role') ? await staffPost(app, other.jar, url, { role: 'admin' }) : await staffGet(app, other.jar, url);
    assert.equal(res.statusCode, 404, url);
  }
  const row = await userRow(services, clinician.id);
  assert.equal(row.role, 'clinician');
  assert.equal(row.deactivatedAt, null);
  assert.ok(row.totpEnrolledAt);
  assert.equal((await services.db.select().from(staffSetupTokens).where(eq(staffSetupTokens.staffUserId, clinician.id))).length, 0);
  assert.equal((await staffGet(app, theirSession, '/staff')).statusCode, 200);
  assert.deepEqual(await staffAudit(services, organisation.id), []);
  assert.deepEqual(await staffAudit(services, other.organisation.id), []);
  // The other admin's own list does not show them.
  assert.doesNotMatch(pageText((await staffGet(app, other.jar, '/staff/accounts')).body), new RegExp(clinician.name));
});

test('a post without the CSRF token is refused with 403 and changes nothing', async (t) => {
  const { app, services } = await start(t);
  const { organisation, jar } = await organisationWithAdmin(services);
  const clinician = await createTestStaff(services, organisation.id, { role: 'clinician' });
  const { token } = await addWithLink(app, jar, { email: 'csrf@example.nhs.uk' });
  for (const [url, fields] of [
    ['/staff/accounts/new', form],
    [`/staff/accounts/${clinician.id}/role`, { role: 'admin' }],
    [`/staff/accounts/${clinician.id}/deactivate`, {}],
    [`/staff/accounts/${clinician.id}/reset-second-factor`, {}],
    [`/staff/accounts/${clinician.id}/set-up-link`, {}],
    [`/staff/set-up/${token}`, { password: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }],
  ] as const) {
    const res = await staffPost(app, jar, url, { ...fields, _csrf: null });
    assert.equal(res.statusCode, 403, url);
  }
  const row = await userRow(services, clinician.id);
  assert.equal(row.role, 'clinician');
  assert.equal(row.deactivatedAt, null);
  assert.equal((await services.db.select().from(staffUsers).where(eq(staffUsers.email, form.email))).length, 0);
  assert.equal((await staffGet(app, new CookieJar(), `/staff/set-up/${token}`)).statusCode, 200);
});

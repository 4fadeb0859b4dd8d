// Message templates: admins add, change and delete them; staff use one on the compose page, filled for
// the patient. Other organisations' templates are never shown, changed or filled; other roles get 403.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestOrganisation, createTestPatient, createTestStaff } from '../../../test/helpers/factories.ts';
import { errorSummaryItems, pageText, signInAsStaff, staffGet, staffPost } from '../../../test/helpers/staff.ts';
import { auditEvents, messageTemplates } from '../../platform/db/schema.ts';
import { fillTemplate, unknownPlaceholders } from './templates.service.ts';

async function world(t: { after(fn: () => Promise<void>): void }) {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const organisation = await createTestOrganisation(services, { name: 'Riverside Surgery', contactPhone: '01632 960000' });
  const admin = await createTestStaff(services, organisation.id, { role: 'admin', name: 'Ada Admin' });
  const jar = await signInAsStaff(app, admin.email, admin.password);
  return { app, services, organisation, admin, jar };
}

const templateRows = (services: Awaited<ReturnType<typeof world>>['services'], organisationId: string) =>
  services.db.select().from(messageTemplates).where(eq(messageTemplates.organisationId, organisationId));
const auditTypes = async (services: Awaited<ReturnType<typeof world>>['services'], type: string) =>
  services.db.select().from(auditEvents).where(eq(auditEvents.type, type));

test('an admin adds, lists, changes and deletes a template, each change audited', async (t) => {
  const { app, services, organisation, admin, jar } = await world(t);
  const empty = await staffGet(app, jar, '/staff/templates');
  assert.equal(empty.statusCode, 200);
  assert.match(pageText(empty.body), /Your organisation has no templates yet/);

  const form = await staffGet(app, jar, '/staff/templates/new');
  assert.equal(form.statusCode, 200);
  assert.match(pageText(form.body), /\(\(patient_first_name\)\)/);
  const added = await staffPost(app, jar, '/staff/templates/new', { name: '  Results normal ', body: 'Dear ((patient_first_name)), your results are normal.' });
  assert.equal(added.statusCode, 303);
  assert.equal(added.headers.location, '/staff/templates?done=added');
  const [row] = await templateRows(services, organisation.id);
  assert.equal(row!.name, 'Results normal');
  assert.equal(row!.createdByStaffId, admin.id);
  const list = pageText((await staffGet(app, jar, '/staff/templates?done=added')).body);
  assert.match(list, /Template added/);
  assert.match(list, /Results normal Dear \(\(patient_first_name\)\), your results are normal\./);

  const edit = await staffGet(app, jar, `/staff/templates/${row!.id}`);
  assert.equal(edit.statusCode, 200);
  assert.match(edit.body, /value="Results normal"/);
  const changed = await staffPost(app, jar, `/staff/templates/${row!.id}`, { name: 'Results fine', body: 'Hello ((patient_name)). Call ((organisation_phone)).' });
  assert.equal(changed.statusCode, 303);
  const [after] = await templateRows(services, organisation.id);
  assert.equal(after!.name, 'Results fine');
  assert.equal(after!.body, 'Hello ((patient_name)). Call ((organisation_phone)).');

  const confirm = await staffGet(app, jar, `/staff/templates/${row!.id}/delete`);
  assert.equal(confirm.statusCode, 200);
  assert.match(pageText(confirm.body), /Delete the template Results fine\?/);
  const deleted = await staffPost(app, jar, `/staff/templates/${row!.id}/delete`);
  assert.equal(deleted.statusCode, 303);
  assert.equal((await templateRows(services, organisation.id)).length, 0);
  assert.equal((await staffGet(app, jar, `/staff/templates/${row!.id}`)).statusCode, 404);

  const [created] = await auditTypes(services, 'template.created');
  assert.deepEqual(created!.details, { templateId: row!.id, name: 'Results normal' });
  assert.equal(created!.actorId, admin.id);
  assert.equal(created!.organisationId, organisation.id);
  const [change] = await auditTypes(services, 'template.changed');
  assert.deepEqual(change!.details, { templateId: row!.id, name: 'Results fine', previousName: 'Results normal' });
  const [removed] = await auditTypes(services, 'template.deleted');
  assert.deepEqual(removed!.details, { templateId: row!.id, name: 'Results fine' });
});

test('bad templates are refused with the error summary: names, lengths, unknown placeholders, duplicates', async (t) => {
  const { app, services, organisation, jar } = await world(t);
  const cases: [Record<string, string>, string[]][] = [
    [{ name: '', body: '' }, ['#name Enter a name for the template', '#body Enter a message']],
    [{ name: 'x'.repeat(81), body: 'Fine' }, ['#name Template name must be 80 characters or fewer']],
    [{ name: 'Bad', body: 'Dear ((first_name)), and ((patient_nhs_number))' }, ['#body The message uses ((first_name)), which is not a placeholder Dovecote can fill. Use ((patient_first_name)), ((patient_name)), ((organisation_name)) or ((organisation_phone))']],
    [{ name: 'Long', body: 'x'.repeat(5001) }, ['#body Message must be 5,000 characters or fewer']],
  ];
  for (const [form, expected] of cases) {
    const res = await staffPost(app, jar, '/staff/templates/new', form);
    assert.equal(res.statusCode, 400, JSON.stringify(form).slice(0, 60));
    assert.deepEqual(errorSummaryItems(res.body), expected);
  }
  assert.equal((await templateRows(services, organisation.id)).length, 0);

  assert.equal((await staffPost(app, jar, '/staff/templates/new', { name: 'Flu clinic', body: 'Book your flu jab.' })).statusCode, 303);
  const duplicate = await staffPost(app, jar, '/staff/templates/new', { name: 'Flu clinic', body: 'Again' });
  assert.equal(duplicate.statusCode, 400);
  assert.deepEqual(errorSummaryItems(duplicate.body), ['#name A template called Flu clinic already exists']);
  // Kept what was typed.
  assert.match(duplicate.body, />Again<\/textarea>/);
  assert.equal((await staffPost(app, jar, '/staff/templates/new', { name: 'Other', body: 'Other text' })).statusCode, 303);
  const [other] = await services.db.select().from(messageTemplates).where(and(eq(messageTemplates.organisationId, organisation.id), eq(messageTemplates.name, 'Other')));
  const renamed = await staffPost(app, jar, `/staff/templates/${other!.id}`, { name: 'Flu clinic', body: 'Other text' });
  assert.equal(renamed.statusCode, 400);
  assert.deepEqual(errorSummaryItems(renamed.body), ['#name A template called Flu clinic already exists']);
  // Another organisation may use the same name.
  const elsewhere = await createTestOrganisation(services);
  const otherAdmin = await createTestStaff(services, elsewhere.id, { role: 'admin' });
  const otherJar = await signInAsStaff(app, otherAdmin.email, otherAdmin.password);
  assert.equal((await staffPost(app, otherJar, '/staff/templates/new', { name: 'Flu clinic', body: 'Ours' })).statusCode, 303);
});

test('placeholders are filled for the patient and organisation; unknown ones are found', () => {
  const filled = fillTemplate(
    { body: 'Dear ((patient_first_name)) (((patient_name))), from ((organisation_name)) on ((organisation_phone)). ((unknown)) stays.' },
    { patient: { givenName: 'Priya', familyName: 'Shah' }, organisation: { name: 'Riverside Surgery', contactPhone: '01632 960000' } },
  );
  assert.equal(filled, 'Dear Priya (Priya Shah), from Riverside Surgery on 01632 960000. ((unknown)) stays.');
  assert.deepEqual(unknownPlaceholders('((a)) ((patient_name)) ((a)) ((b))'), ['a', 'b']);
  assert.deepEqual(unknownPlaceholders('(( patient_name ))'), [' patient_name ']);
});

test('the compose page fills the message box from a template; another organisation’s template is never filled', async (t) => {
  const { app, services, organisation, jar } = await world(t);
  const patient = await createTestPatient(services, organisation.id);
  await staffPost(app, jar, '/staff/templates/new', { name: 'Results normal', body: 'Dear ((patient_first_name)), call ((organisation_name)) on ((organisation_phone)).' });
  const [template] = await templateRows(services, organisation.id);

  const plain = await staffGet(app, jar, `/staff/patients/${patient.id}/message`);
  assert.equal(plain.statusCode, 200);
  assert.match(plain.body, /<form method="get" action="\/staff\/patients\/[^"]+\/message"/);
  assert.match(pageText(plain.body), /Use a template This replaces what is in the message box. .* Choose a template Results normal Use template/);

  const used = await staffGet(app, jar, `/staff/patients/${patient.id}/message?template=${template!.id}`);
  assert.equal(used.statusCode, 200);
  assert.match(used.body, />Dear Priya, call Riverside Surgery on 01632 960000\.<\/textarea>/);
  assert.match(used.body, new RegExp(`<option value="${template!.id}" selected`));

  // A clinician may use templates but not manage them.
  const clinician = await createTestStaff(services, organisation.id, { role: 'clinician' });
  const clinicianJar = await signInAsStaff(app, clinician.email, clinician.password);
  const theirs = await staffGet(app, clinicianJar, `/staff/patients/${patient.id}/message?template=${template!.id}`);
  assert.match(theirs.body, />Dear Priya, call Riverside Surgery/);

  // Another organisation's template id is ignored: the box stays empty.
  const elsewhere = await createTestOrganisation(services, { name: 'Hillside Practice' });
  const otherAdmin = await createTestStaff(services, elsewhere.id, { role: 'admin' });
  const otherJar = await signInAsStaff(app, otherAdmin.email, otherAdmin.password);
  await staffPost(app, otherJar, '/staff/templates/new', { name: 'Secret', body: 'Hillside text for ((patient_name))' });
  const [foreign] = await templateRows(services, elsewhere.id);
  const refused = await staffGet(app, jar, `/staff/patients/${patient.id}/message?template=${foreign!.id}`);
  assert.equal(refused.statusCode, 200);
  assert.doesNotMatch(refused.body, /Hillside|Secret/);
  assert.match(refused.body, /<textarea[^>]*>\s*<\/textarea>/);
  for (const junk of ['nonsense', '', '%00']) {
    assert.equal((await staffGet(app, jar, `/staff/patients/${patient.id}/message?template=${junk}`)).statusCode, 200);
  }
});

test('clinicians and receptionists get 403 on every template page; other organisations get 404; posts need CSRF', async (t) => {
  const { app, services, organisation, jar } = await world(t);
  await staffPost(app, jar, '/staff/templates/new', { name: 'Ours', body: 'Our text' });
  const [ours] = await templateRows(services, organisation.id);
  const routes: [string, string][] = [
    ['GET', '/staff/templates'],
    ['GET', '/staff/templates/new'],
    ['POST', '/staff/templates/new'],
    ['GET', `/staff/templates/${ours!.id}`],
    ['POST', `/staff/templates/${ours!.id}`],
    ['GET', `/staff/templates/${ours!.id}/delete`],
    ['POST', `/staff/templates/${ours!.id}/delete`],
  ];
  for (const role of ['clinician', 'receptionist'] as const) {
    const member = await createTestStaff(services, organisation.id, { role });
    const memberJar = await signInAsStaff(app, member.email, member.password);
    for (const [method, url] of routes) {
      const res = method === 'GET' ? await staffGet(app, memberJar, url) : await staffPost(app, memberJar, url, { name: 'Mine', body: 'Changed' });
      assert.equal(res.statusCode, 403, `${role} ${method} ${url}`);
      assert.match(pageText(res.body), /You cannot use this page/);
    }
  }

  const elsewhere = await createTestOrganisation(services);
  const otherAdmin = await createTestStaff(services, elsewhere.id, { role: 'admin' });
  const otherJar = await signInAsStaff(app, otherAdmin.email, otherAdmin.password);
  for (const [method, url] of routes.slice(3)) {
    const res = method === 'GET' ? await staffGet(app, otherJar, url) : await staffPost(app, otherJar, url, { name: 'Taken over', body: 'Changed' });
    assert.equal(res.statusCode, 404, `other organisation ${method} ${url}`);
    assert.match(pageText(res.body), /Page not found/);
  }
  assert.equal((await staffGet(app, otherJar, '/staff/templates')).body.includes('Our text'), false);

  for (const [, url] of routes.filter(([m]) => m === 'POST')) {
    const res = await staffPost(app, jar, url, { _csrf: null, name: 'No token', body: 'Changed' });
    assert.equal(res.statusCode, 403, `no CSRF ${url}`);
  }
  const [unchanged] = await templateRows(services, organisation.id);
  assert.deepEqual({ name: unchanged!.name, body: unchanged!.body }, { name: 'Ours', body: 'Our text' });
});

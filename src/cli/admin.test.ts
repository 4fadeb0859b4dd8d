// The admin command line, run as operators run it: a child process on a real database (a fresh PGlite
// data directory, or a fresh PostgreSQL database when TEST_DATABASE_URL is set). Then the app is built
// on that same database and the API key the command printed is used against it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { verify } from '@node-rs/argon2';
import { eq, like } from 'drizzle-orm';
import pino from 'pino';
import { buildApp } from '../app.ts';
import { openDatabase, type Database } from '../platform/db/client.ts';
import { apiKeys, auditEvents, organisations, staffUsers } from '../platform/db/schema.ts';
import { startJobs } from '../platform/jobs/jobs.ts';
import { testConfig } from '../../test/helpers/app.ts';
import { createTestDatabase, databaseKind } from '../../test/helpers/database.ts';
import { bodyMassIndex } from '../../test/helpers/questionnaires.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runAdmin(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['src/cli/admin.ts', ...args], { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** A fresh database for the command line: its environment, and how to open it for the app. */
async function freshDatabase(t: { after: (fn: () => Promise<void>) => void }) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'dovecote-cli-'));
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, NODE_ENV: 'test', LOG_LEVEL: 'silent', DATA_DIR: dataDir };
  if (databaseKind === 'postgres') {
    const testDatabase = await createTestDatabase();
    t.after(async () => {
      await testDatabase.database.close();
      await testDatabase.drop();
    });
    return { env: { ...base, DATABASE_URL: testDatabase.url }, dataDir, open: async () => testDatabase.database, closeAfter: false };
  }
  return { env: base, dataDir, open: () => openDatabase({ dataDir }), closeAfter: true };
}

test('admin --help prints the commands; wrong usage exits 2', async () => {
  const env = { PATH: process.env.PATH, NODE_ENV: 'test', DATA_DIR: mkdtempSync(path.join(tmpdir(), 'dovecote-cli-')) };
  const help = await runAdmin(['--help'], env);
  assert.equal(help.code, 0);
  for (const words of ['organisations create --name', 'organisations list', 'staff create --org', 'api-keys create', 'api-keys list', 'api-keys revoke', 'questionnaire:check <file.json>', 'questionnaire:add --org <ODS code> <file.json>', 'questionnaire:list --org <ODS code>', 'never taken as an argument', 'recorded in the audit trail', 'DATABASE_URL']) {
    assert.ok(help.stdout.includes(words), words);
  }
  const unknown = await runAdmin(['frobnicate', 'now'], env);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown command: frobnicate now/);
  const missing = await runAdmin(['organisations', 'create', '--name', 'X'], env);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /needs --ods, --phone/);
  const stray = await runAdmin(['organisations', 'list', '--bogus'], env);
  assert.equal(stray.code, 2);
});

test('admin questionnaire:check: OK with the title, url|version and questions; every refusal reason a line, exit 1; no database needed', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dovecote-cli-'));
  // DATA_DIR points at a file, so any attempt to open the embedded database would fail.
  const env = { PATH: process.env.PATH, NODE_ENV: 'test', DATA_DIR: path.join(dir, 'not-a-directory') };
  writeFileSync(env.DATA_DIR, '');
  const good = path.join(dir, 'good.json');
  writeFileSync(good, JSON.stringify(bodyMassIndex));
  const ok = await runAdmin(['questionnaire:check', good], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'OK: Weight and height https://example.org/Questionnaire/bmi|1.1, 3 questions\n');

  const bad = path.join(dir, 'bad.json');
  writeFileSync(
    bad,
    JSON.stringify({
      resourceType: 'Questionnaire',
      url: 'https://example.org/q',
      status: 'active',
      item: [
        { linkId: 'when', type: 'dateTime', text: 'When did it start?' },
        { linkId: 'b', type: 'string', text: 'B', modifierExtension: [{ url: 'https://example.org/m', valueBoolean: true }] },
      ],
    }),
  );
  const refused = await runAdmin(['questionnaire:check', bad], env);
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, '');
  assert.deepEqual(refused.stderr.trim().split('\n'), [
    `Refused: ${bad}`,
    'questionnaire: version: needs a version (Questionnaire.version), so each response records which version it answered',
    'when: item type "dateTime" is not supported: date and time questions are not supported: use a date question',
    'b: modifierExtension is not supported (https://example.org/m): it could change the meaning of the question',
  ]);

  const notJson = path.join(dir, 'not.json');
  writeFileSync(notJson, '{ nope');
  const broken = await runAdmin(['questionnaire:check', notJson], env);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /not\.json is not JSON/);
  const missing = await runAdmin(['questionnaire:check', path.join(dir, 'missing.json')], env);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /missing\.json cannot be read: ENOENT/);
  const noFile = await runAdmin(['questionnaire:check'], env);
  assert.equal(noFile.code, 2);
  assert.match(noFile.stderr, /questionnaire:check needs exactly one file/);
});

test('admin questionnaire:add and questionnaire:list: validated, versions never change, recorded with the operator', async (t) => {
  const db = await freshDatabase(t);
  const admin = (args: string[]) => runAdmin(args, db.env);
  const dir = mkdtempSync(path.join(tmpdir(), 'dovecote-cli-'));
  const file = (name: string, json: unknown) => {
    const where = path.join(dir, name);
    writeFileSync(where, typeof json === 'string' ? json : JSON.stringify(json));
    return where;
  };
  assert.equal((await admin(['organisations', 'create', '--name', 'Quiz Surgery', '--ods', 'Q1234', '--phone', '01234 567890'])).code, 0);

  const good = file('good.json', bodyMassIndex);
  const added = await admin(['questionnaire:add', '--org', 'q1234', good]);
  assert.equal(added.code, 0, added.stderr);
  const id = /id ([0-9a-f-]{36})$/m.exec(added.stdout)?.[1];
  assert.ok(id, added.stdout);
  assert.match(added.stdout, /^Added questionnaire Weight and height https:\/\/example.org\/Questionnaire\/bmi\|1.1 for Quiz Surgery \(Q1234\), id /);

  const again = await admin(['questionnaire:add', '--org', 'Q1234', good]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`Already added, with the same content: .*id ${id}\\. Nothing changed\\.`));

  const changed = file('changed.json', { ...bodyMassIndex, title: 'Weight, height and BMI' });
  const conflict = await admin(['questionnaire:add', '--org', 'Q1234', changed]);
  assert.equal(conflict.code, 1);
  assert.deepEqual(conflict.stderr.trim().split('\n'), [`Refused: ${changed}`, 'version 1.1 of this questionnaire already exists with different content: give it a new version']);

  const bad = file('bad.json', { resourceType: 'Questionnaire', url: 'https://example.org/q', status: 'active', item: [{ linkId: 'when', type: 'dateTime', text: 'When did it start?' }] });
  const refused = await admin(['questionnaire:add', '--org', 'Q1234', bad]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, '');
  assert.deepEqual(refused.stderr.trim().split('\n'), [
    `Refused: ${bad}`,
    'questionnaire: version: needs a version (Questionnaire.version), so each response records which version it answered',
    'when: item type "dateTime" is not supported: date and time questions are not supported: use a date question',
  ]);
  const notJson = await admin(['questionnaire:add', '--org', 'Q1234', file('not.json', '{ nope')]);
  assert.equal(notJson.code, 1);
  assert.match(notJson.stderr, /is not JSON/);
  const noOrg = await admin(['questionnaire:add', '--org', 'Z9999', good]);
  assert.equal(noOrg.code, 1);
  assert.match(noOrg.stderr, /There is no organisation with ODS code Z9999/);
  assert.equal((await admin(['questionnaire:add', good])).code, 2, 'needs --org');
  assert.equal((await admin(['questionnaire:add', '--org', 'Q1234'])).code, 2, 'needs a file');

  const list = await admin(['questionnaire:list', '--org', 'Q1234']);
  assert.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trim().split('\n');
  assert.match(lines[0]!, /^Source\s+Title\s+URL\s+Version\s+Id$/);
  assert.equal(lines.filter((l) => l.startsWith('catalogue ')).length, 7);
  assert.deepEqual(lines.filter((l) => l.startsWith('organisation ')).map((l) => l.split(/\s{2,}/)), [
    ['organisation', 'Weight and height', 'https://example.org/Questionnaire/bmi', '1.1', id],
  ]);

  const database: Database = await db.open();
  t.after(async () => {
    if (db.closeAfter) await database.close();
  });
  const events = await database.db.select().from(auditEvents).where(like(auditEvents.type, '%questionnaire%'));
  assert.deepEqual(
    events.map((e) => ({ type: e.type, actorType: e.actorType, actorId: e.actorId, details: e.details })),
    [{ type: 'operator.questionnaire_added', actorType: 'operator', actorId: userInfo().username, details: { questionnaireId: id, url: 'https://example.org/Questionnaire/bmi', version: '1.1' } }],
    'one event, for the one change',
  );
});

test('admin: organisation, staff (password on stdin, never an argument) and API keys, then the key works against the app', async (t) => {
  const db = await freshDatabase(t);
  const admin = (args: string[], input?: string) => runAdmin(args, db.env, input);

  const org = await admin(['organisations', 'create', '--name', 'Cli Surgery', '--ods', 'c1234', '--phone', '01234 567890']);
  assert.equal(org.code, 0, org.stderr);
  assert.match(org.stdout, /Created organisation Cli Surgery \(C1234\)/);
  const badOds = await admin(['organisations', 'create', '--name', 'Bad', '--ods', 'no!', '--phone', '01234 567890']);
  assert.equal(badOds.code, 1);
  assert.match(badOds.stderr, /--ods: ODS code must be 3 to 6 letters and numbers/);
  // A name that would display as something else (U+202E RIGHT-TO-LEFT OVERRIDE) is refused.
  const hidden = await admin(['organisations', 'create', '--name', 'Cli \u202ESurgery', '--ods', 'C9999', '--phone', '01234 567890']);
  assert.equal(hidden.code, 1);
  assert.match(hidden.stderr, /--name: The organisation name must not contain hidden formatting characters/);
  const duplicate = await admin(['organisations', 'create', '--name', 'Cli Surgery again', '--ods', 'C1234', '--phone', '01234 567890']);
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /already exists/);

  const asArgument = await admin(['staff', 'create', '--org', 'C1234', '--email', 'casey@example.nhs.uk', '--name', 'Casey', '--role', 'admin', '--password', 'a long enough password']);
  assert.equal(asArgument.code, 2);
  assert.match(asArgument.stderr, /Passwords are never taken as arguments/);
  const asArgument2 = await admin(['staff', 'create', '--org', 'C1234', '--email', 'casey@example.nhs.uk', '--name', 'Casey', '--role', 'admin', '--password=a long enough password']);
  assert.equal(asArgument2.code, 2);
  const hiddenName = await admin(['staff', 'create', '--org', 'C1234', '--email', 'casey@example.nhs.uk', '--name', 'Casey\u200B Jones', '--role', 'admin'], 'a long enough password\n');
  assert.equal(hiddenName.code, 1);
  assert.match(hiddenName.stderr, /--name: The name must not contain hidden formatting characters/);
  const short = await admin(['staff', 'create', '--org', 'C1234', '--email', 'casey@example.nhs.uk', '--name', 'Casey', '--role', 'admin'], 'too short\n');
  assert.equal(short.code, 1);
  assert.match(short.stderr, /Password must be 12 characters or more/);
  const noRole = await admin(['staff', 'create', '--org', 'C1234', '--email', 'casey@example.nhs.uk', '--name', 'Casey'], 'a long enough password\n');
  assert.equal(noRole.code, 2);
  assert.match(noRole.stderr, /staff create needs --role/);
  const badRole = await admin(['staff', 'create', '--org', 'C1234', '--email', 'casey@example.nhs.uk', '--name', 'Casey', '--role', 'superuser'], 'a long enough password\n');
  assert.equal(badRole.code, 2);
  assert.match(badRole.stderr, /--role must be one of: admin, clinician, receptionist/);
  const staff = await admin(['staff', 'create', '--org', 'C1234', '--email', 'Casey@Example.nhs.uk', '--name', 'Casey Jones', '--role', 'clinician'], 'a long enough password\nsecond line ignored\n');
  assert.equal(staff.code, 0, staff.stderr);
  assert.match(staff.stdout, /Created staff account for Casey Jones <casey@example.nhs.uk> \(clinician\) in Cli Surgery \(C1234\)/);
  const resetUnknown = await admin(['staff', 'reset-second-factor', '--email', 'nobody@example.nhs.uk']);
  assert.equal(resetUnknown.code, 1);
  assert.match(resetUnknown.stderr, /There is no staff account with email nobody@example.nhs.uk/);
  assert.equal((await admin(['staff', 'reset-second-factor'])).code, 2, 'needs --email');
  const reset = await admin(['staff', 'reset-second-factor', '--email', 'Casey@Example.nhs.uk']);
  assert.equal(reset.code, 0, reset.stderr);
  assert.match(reset.stdout, /Reset the second factor of casey@example.nhs.uk/);
  assert.equal(staff.stdout.includes('a long enough password'), false);

  const created = await admin(['api-keys', 'create', '--org', 'C1234', '--name', 'EPR integration']);
  assert.equal(created.code, 0, created.stderr);
  const key = created.stdout.trim();
  assert.match(key, /^dck_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.match(created.stderr, /will not be shown again/);
  const second = await admin(['api-keys', 'create', '--org', 'C1234', '--name', 'Old system']);
  const secondKey = second.stdout.trim();

  const keys = await admin(['api-keys', 'list', '--org', 'C1234']);
  assert.equal(keys.code, 0);
  assert.match(keys.stdout, /EPR integration/);
  assert.ok(keys.stdout.includes(`${key.slice(0, 20)}_…`), 'the public prefix is listed');
  assert.equal(keys.stdout.includes(key.slice(21)), false, 'the secret is never listed');
  const secondId = new RegExp(`([0-9a-f-]{36})\\s+Old system`).exec(keys.stdout)![1]!;

  const badId = await admin(['api-keys', 'revoke', 'not-an-id']);
  assert.equal(badId.code, 2);
  const unknownId = await admin(['api-keys', 'revoke', '00000000-0000-4000-8000-000000000000']);
  assert.equal(unknownId.code, 1);
  assert.match(unknownId.stderr, /There is no active API key/);
  const revoked = await admin(['api-keys', 'revoke', secondId]);
  assert.equal(revoked.code, 0, revoked.stderr);
  const list = await admin(['organisations', 'list']);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /C1234\s+Cli Surgery\s+01234 567890/);

  // Now the app, on the same database.
  const database: Database = await db.open();
  const jobs = await startJobs(database, { supervise: false });
  const app = await buildApp({ config: testConfig({ DATA_DIR: db.dataDir }), database, jobs, logger: pino({ level: 'silent' }) });
  t.after(async () => {
    await app.close();
    await jobs.stop({ graceful: false, timeout: 1000 });
    if (db.closeAfter) await database.close();
  });

  const [user] = await database.db.select().from(staffUsers).where(eq(staffUsers.email, 'casey@example.nhs.uk'));
  assert.match(user!.passwordHash, /^\$argon2id\$/);
  assert.equal(user!.role, 'clinician');
  assert.equal(await verify(user!.passwordHash, 'a long enough password'), true, 'the password is the first line of stdin');

  // Each change (and only a change that happened) is in the audit trail, by the OS user who ran it.
  const [organisation] = await database.db.select().from(organisations).where(eq(organisations.odsCode, 'C1234'));
  const keyRows = await database.db.select().from(apiKeys).where(eq(apiKeys.organisationId, organisation!.id));
  const keyId = (name: string) => keyRows.find((k) => k.name === name)!.id;
  const operatorEvents = await database.db.select().from(auditEvents).where(like(auditEvents.type, 'operator.%')).orderBy(auditEvents.id);
  assert.deepEqual(
    operatorEvents.map((e) => [e.type, e.details]),
    [
      ['operator.organisation_created', { odsCode: 'C1234', name: 'Cli Surgery' }],
      ['operator.staff_created', { staffUserId: user!.id }],
      ['operator.api_key_created', { apiKeyId: keyId('EPR integration'), name: 'EPR integration' }],
      ['operator.api_key_created', { apiKeyId: keyId('Old system'), name: 'Old system' }],
      ['operator.api_key_revoked', { apiKeyId: secondId, name: 'Old system' }],
    ],
  );
  for (const event of operatorEvents) {
    assert.equal(event.actorType, 'operator');
    assert.equal(event.actorId, userInfo().username);
    assert.equal(event.ip, null);
    assert.equal(event.organisationId, organisation!.id);
    const json = JSON.stringify(event);
    for (const secret of ['a long enough password', user!.passwordHash, key, key.slice(21), secondKey, ...keyRows.map((k) => k.secretHash)]) {
      assert.equal(json.includes(secret), false, `${event.type} holds a secret`);
    }
  }

  const resets = await database.db.select().from(auditEvents).where(eq(auditEvents.type, 'staff.second_factor_reset'));
  assert.deepEqual(
    resets.map((e) => [e.actorType, e.actorId, e.organisationId, e.details]),
    [['operator', userInfo().username, organisation!.id, { staffUserId: user!.id }]],
  );

  const auth = { authorization: `Bearer ${key}` };
  const put = await app.inject({
    method: 'PUT',
    url: '/api/v1/patients/9990000018',
    headers: auth,
    payload: { givenName: 'Priya', familyName: 'Shah', dateOfBirth: '1984-03-12', mobileNumber: '07700 900001' },
  });
  assert.equal(put.statusCode, 201, put.body);
  const sent = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: auth, payload: { nhsNumber: '9990000018', body: 'Hello from the CLI test', replyMode: 'once' } });
  assert.equal(sent.statusCode, 201, sent.body);
  const read = await app.inject({ method: 'GET', url: sent.headers.location as string, headers: auth });
  assert.equal(read.statusCode, 200);
  assert.equal(read.json().status, 'queued');

  const old = await app.inject({ method: 'GET', url: sent.headers.location as string, headers: { authorization: `Bearer ${secondKey}` } });
  assert.equal(old.statusCode, 401, 'the revoked key is refused');

  if (databaseKind === 'pglite') {
    // The app holds the embedded database open: the command line must refuse rather than open it twice.
    const busy = await admin(['organisations', 'list']);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /is in use, probably by a running Dovecote server/);
  }
});

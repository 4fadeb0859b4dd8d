// Operators' command line: `npm run admin -- --help`. Uses the same configuration, database code,
// migrations and service functions as the server, so what it creates is exactly what the app reads.
//
// Exit codes: 0 done; 1 the command could not be carried out (invalid value, duplicate, not found,
// database problem); 2 the command line itself is wrong (unknown command or option, missing option).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import type { Database } from '../platform/db/client.ts';
import type { Organisation } from '../features/organisations/organisations.service.ts';

// The database and service code loads only once the command line is known to be right, so --help and
// usage errors answer at once.
async function loadModules() {
  const [zod, config, client, errors, domainErrors, organisations, staff, apiKeys, operatorActions, questionnaires, fileKeys, staffOperator] = await Promise.all([
    import('zod'),
    import('../config/config.ts'),
    import('../platform/db/client.ts'),
    import('../platform/http/errors.ts'),
    import('../platform/errors.ts'),
    import('../features/organisations/organisations.service.ts'),
    import('../features/staff/staff-accounts.service.ts'),
    import('../features/api/api-keys.service.ts'),
    import('../features/operators/operator-actions.service.ts'),
    import('../features/questionnaires/questionnaires.service.ts'),
    import('../features/files/file-keys.service.ts'),
    import('../features/staff/staff-operator.service.ts'),
  ]);
  return {
    z: zod.z,
    ...config,
    ...client,
    ...errors,
    AlreadyExists: domainErrors.AlreadyExists,
    ...organisations,
    ...staff,
    ...apiKeys,
    ...operatorActions,
    ...questionnaires,
    ...fileKeys,
    ...staffOperator,
  };
}
type Modules = Awaited<ReturnType<typeof loadModules>>;

const USAGE = `Dovecote admin

Usage: npm run admin -- <command> [options]

Commands:
  organisations create --name <name> --ods <ODS code> --phone <contact phone>
  organisations list
  staff create --org <ODS code> --email <email> --name <name> --role <admin|clinician|receptionist>
      The password is read from standard input: typed (not shown) when run in a
      terminal, or the first line of a pipe, e.g.  printf '%s\\n' "$PW" | npm run admin -- staff create ...
      It is never taken as an argument. At least 12 characters.
  staff reset-second-factor --email <email>
      For a lost phone: removes the account's authenticator app and recovery codes and ends its
      sessions, so the next sign-in sets up a new authenticator.
  api-keys create --org <ODS code> --name <what the key is for>
      Prints the new key once. Only a hash is kept: it cannot be shown again.
  api-keys list --org <ODS code>
  api-keys revoke <key id>
  questionnaire:check <file.json>
      Checks a FHIR R4 Questionnaire without adding it: prints "OK: <title> <url>|<version>, N questions",
      or every reason it would be refused, one a line (exit code 1). Needs no database.
  questionnaire:add --org <ODS code> <file.json>
      Checks the Questionnaire as questionnaire:check does and adds it for the organisation; prints its id.
      A version once added never changes: the same url and version again with the same content is
      accepted (nothing changes); with other content it is refused, so give it a new version.
  questionnaire:list --org <ODS code>
      The built-in catalogue and the organisation's own (for each url, the version added last).
  rewrap-file-keys
      After putting a new key first in FILE_ENCRYPTION_KEYS (the old ones kept after it): wraps every
      stored file's data key under the new key, in batches, and prints how many. Safe to run again, and
      while the server runs. Remove an old key only once this says no file needs it; files whose key is
      not configured are listed, and the exit code is 1.

Options:
  -h, --help   Show this help.

Database: the same settings as the server. DATABASE_URL=postgres://... uses PostgreSQL; otherwise the
embedded database under DATA_DIR (default ./data). The embedded database allows one process at a
time: stop the server first (or use DATABASE_URL).

Audit: every command that changes something (create, revoke, reset-second-factor, questionnaire:add, rewrap-file-keys) is recorded in the audit trail with
your operating-system user name. Passwords and keys are never recorded.

Exit codes: 0 done, 1 could not be done, 2 wrong usage.
`;

class UsageError extends Error {
  override name = 'UsageError';
}
class FailureError extends Error {
  override name = 'FailureError';
}

const options = {
  help: { type: 'boolean', short: 'h' },
  name: { type: 'string' },
  ods: { type: 'string' },
  phone: { type: 'string' },
  org: { type: 'string' },
  email: { type: 'string' },
  role: { type: 'string' },
} as const;

const STAFF_ROLE_WORDS = ['admin', 'clinician', 'receptionist'] as const;

interface Parsed {
  command: string;
  positionals: string[];
  values: { help?: boolean; name?: string; ods?: string; phone?: string; org?: string; email?: string; role?: string };
}

const ALLOWED: Record<string, { options: Array<keyof Parsed['values']>; positionals: number }> = {
  'organisations create': { options: ['name', 'ods', 'phone'], positionals: 0 },
  'organisations list': { options: [], positionals: 0 },
  'staff create': { options: ['org', 'email', 'name', 'role'], positionals: 0 },
  'staff reset-second-factor': { options: ['email'], positionals: 0 },
  'api-keys create': { options: ['org', 'name'], positionals: 0 },
  'api-keys list': { options: ['org'], positionals: 0 },
  'api-keys revoke': { options: [], positionals: 1 },
  'questionnaire:check': { options: [], positionals: 1 },
  'questionnaire:add': { options: ['org'], positionals: 1 },
  'questionnaire:list': { options: ['org'], positionals: 0 },
  'rewrap-file-keys': { options: [], positionals: 0 },
};

function parseCommandLine(argv: string[]): Parsed | 'help' {
  // A password typed on the command line lands in shell history and process listings.
  if (argv.some((a) => /^--?pass(word)?(=|$)/i.test(a) || a === '-p')) {
    throw new UsageError(
      'Passwords are never taken as arguments (they end up in shell history and process lists).\n' +
        'Run the command without it and type the password when asked, or pipe it on standard input.',
    );
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0 || positionals[0] === 'help') return 'help';
  // Most commands are two words ("api-keys list"); a one-word command names its action after a colon,
  // or is listed as one word.
  const oneWord = positionals[0]!.includes(':') || Object.hasOwn(ALLOWED, positionals[0]!);
  const command = oneWord ? positionals[0]! : positionals.slice(0, 2).join(' ');
  const rule = ALLOWED[command];
  if (!rule) throw new UsageError(`Unknown command: ${command}`);
  for (const key of Object.keys(values) as Array<keyof Parsed['values']>) {
    if (key !== 'help' && !rule.options.includes(key)) throw new UsageError(`${command} does not take --${key}`);
  }
  const missing = rule.options.filter((k) => values[k] === undefined || values[k] === '');
  if (missing.length > 0) throw new UsageError(`${command} needs ${missing.map((k) => `--${k}`).join(', ')}`);
  const rest = positionals.slice(oneWord ? 1 : 2);
  if (rest.length !== rule.positionals) {
    throw new UsageError(rule.positionals === 0 ? `${command} takes no further arguments: ${rest.join(' ')}` : `${command} needs exactly one ${oneWord ? 'file' : 'id'}`);
  }
  if (command === 'staff create' && !(STAFF_ROLE_WORDS as readonly string[]).includes(values.role!)) {
    throw new UsageError(`--role must be one of: ${STAFF_ROLE_WORDS.join(', ')}`);
  }
  if (command === 'api-keys revoke' && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(rest[0]!)) {
    throw new UsageError(`Not an API key id: ${rest[0]} (see: api-keys list --org <ODS code>)`);
  }
  return { command, positionals: rest, values };
}

// ---- Reading the password -----------------------------------------------------------------------

/** Prompts on the terminal without echoing what is typed. */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.resume();
    let value = '';
    const done = (fn: () => void) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      fn();
    };
    function onData(chunk: string) {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done(() => resolve(value));
        if (ch === '\u0003') return done(() => reject(new FailureError('Cancelled.')));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    }
    stdin.on('data', onData);
  });
}

/** The first line of a pipe (without its line ending). */
async function readFirstLine(): Promise<string> {
  process.stdin.setEncoding('utf8');
  let data = '';
  for await (const chunk of process.stdin) {
    data += chunk as string;
    if (data.includes('\n')) break;
  }
  return data.split('\n')[0]!.replace(/\r$/, '');
}

async function readPassword(m: Modules): Promise<string> {
  const check = (password: string) => {
    const result = m.staffAccountInput.shape.password.safeParse(password);
    if (!result.success) throw new FailureError(result.error.issues[0]!.message);
    return password;
  };
  if (!process.stdin.isTTY) {
    const password = await readFirstLine();
    if (password === '') throw new FailureError('No password on standard input. Pipe one line, or run in a terminal to be asked for it.');
    return check(password);
  }
  const password = check(await promptHidden('Password for the new account (at least 12 characters, not shown): '));
  const again = await promptHidden('Type it again: ');
  if (again !== password) throw new FailureError('The passwords do not match.');
  return password;
}

// ---- Commands -----------------------------------------------------------------------------------

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

const iso = (d: Date | null) => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : '-');

async function organisationByOds(m: Modules, database: Database, ods: string): Promise<Organisation> {
  const organisation = await m.findOrganisationByOds(database.db, ods.trim());
  if (!organisation) throw new FailureError(`There is no organisation with ODS code ${ods.trim().toUpperCase()}. See: organisations list`);
  return organisation;
}

/** The audit trail's name for whoever ran the command. There is no sign-in: the OS account is the identity. */
function operatorName(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    // A container user with no passwd entry.
    return 'unknown';
  }
}

async function run(m: Modules, parsed: Parsed, database: Database, config: Config): Promise<void> {
  const v = parsed.values;
  const operator = operatorName();
  switch (parsed.command) {
    case 'organisations create': {
      const org = await m.createOrganisationAsOperator(database.db, operator, { name: v.name!, odsCode: v.ods!, contactPhone: v.phone! });
      process.stdout.write(`Created organisation ${org.name} (${org.odsCode}), id ${org.id}\n`);
      return;
    }
    case 'organisations list': {
      const orgs = await m.listOrganisations(database.db);
      if (orgs.length === 0) {
        process.stdout.write('No organisations yet. Create one with: organisations create --name ... --ods ... --phone ...\n');
        return;
      }
      process.stdout.write(`${table([['ODS code', 'Name', 'Contact phone', 'Id'], ...orgs.map((o) => [o.odsCode, o.name, o.contactPhone, o.id])])}\n`);
      return;
    }
    case 'staff create': {
      const org = await organisationByOds(m, database, v.org!);
      // Check the other fields before asking for a password, so a typo does not waste the typing.
      const early = m.staffAccountInput.omit({ password: true, role: true }).safeParse({ organisationId: org.id, email: v.email, name: v.name });
      if (!early.success) throw early.error;
      const password = await readPassword(m);
      const user = await m.createStaffUserAsOperator(database.db, operator, { organisationId: org.id, email: v.email!, name: v.name!, password, role: v.role as (typeof STAFF_ROLE_WORDS)[number] });
      process.stdout.write(`Created staff account for ${user.name} <${user.email}> (${user.role}) in ${org.name} (${org.odsCode}), id ${user.id}\n`);
      return;
    }
    case 'staff reset-second-factor': {
      const user = await m.resetSecondFactorAsOperator(database.db, operator, v.email!);
      if (!user) throw new FailureError(`There is no staff account with email ${v.email!.trim().toLowerCase()}.`);
      process.stdout.write(`Reset the second factor of ${user.email}: its sessions have ended, and its next sign-in sets up a new authenticator app.\n`);
      return;
    }
    case 'api-keys create': {
      const org = await organisationByOds(m, database, v.org!);
      const { key, apiKey } = await m.createApiKeyAsOperator(database.db, operator, { organisationId: org.id, name: v.name! });
      process.stderr.write(`Created API key "${apiKey.name}" for ${org.name} (${org.odsCode}), id ${apiKey.id}.\n\n`);
      // The key alone on standard output, so a script can capture it: KEY=$(node src/cli/admin.ts ...)
      process.stdout.write(`${key}\n`);
      process.stderr.write('\nCopy this key now and keep it secret: it will not be shown again (only a hash is kept).\n');
      process.stderr.write('Use it as: Authorization: Bearer <key>\n');
      return;
    }
    case 'api-keys list': {
      const org = await organisationByOds(m, database, v.org!);
      const keys = await m.listApiKeys(database.db, org.id);
      if (keys.length === 0) {
        process.stdout.write(`${org.name} (${org.odsCode}) has no API keys.\n`);
        return;
      }
      const rows = keys.map((k) => [k.id, k.name, `dck_${k.prefix}_…`, iso(k.createdAt), iso(k.lastUsedAt), k.revokedAt ? `revoked ${iso(k.revokedAt)}` : 'active']);
      process.stdout.write(`${table([['Id', 'Name', 'Key', 'Created', 'Last used', 'Status'], ...rows])}\n`);
      return;
    }
    case 'api-keys revoke': {
      const id = parsed.positionals[0]!;
      if (!(await m.revokeApiKeyAsOperator(database.db, operator, id))) throw new FailureError(`There is no active API key with id ${id}.`);
      process.stdout.write(`Revoked API key ${id}. Requests using it now get 401.\n`);
      return;
    }
    case 'questionnaire:add': {
      const org = await organisationByOds(m, database, v.org!);
      const file = parsed.positionals[0]!;
      const json = await readJsonFile(file);
      try {
        const added = await m.addQuestionnaire(database, { organisationId: org.id, json, author: { type: 'operator', operator } });
        const q = added.questionnaire;
        const what = `${q.title ?? '(untitled)'} ${q.url}|${q.version}`;
        process.stdout.write(
          added.created
            ? `Added questionnaire ${what} for ${org.name} (${org.odsCode}), id ${q.id}\n`
            : `Already added, with the same content: ${what}, id ${q.id}. Nothing changed.\n`,
        );
      } catch (error) {
        if (error instanceof m.QuestionnaireRefused) {
          throw new FailureError(`Refused: ${file}\n${error.problems.map((p) => `${p.linkId}: ${p.message}`).join('\n')}`);
        }
        if (error instanceof m.AlreadyExists) throw new FailureError(`Refused: ${file}\n${error.publicMessage}`);
        throw error;
      }
      return;
    }
    case 'questionnaire:list': {
      const org = await organisationByOds(m, database, v.org!);
      const list = await m.listQuestionnaires(database, org.id);
      const rows = list.map((q) => [q.source, q.title ?? '(untitled)', q.url, q.version, q.id ?? '-']);
      process.stdout.write(`${table([['Source', 'Title', 'URL', 'Version', 'Id'], ...rows])}\n`);
      return;
    }
    case 'rewrap-file-keys': {
      const result = await m.rewrapFileKeys(database.db, config.files.encryptionKeys, operator);
      process.stdout.write(
        result.rewrapped === 0
          ? `No file needed re-wrapping: every file that could be opened already uses key "${result.keyId}". Nothing changed.\n`
          : `Re-wrapped the data keys of ${result.rewrapped} file${result.rewrapped === 1 ? '' : 's'} under key "${result.keyId}".\n`,
      );
      if (result.unopenable.length > 0) {
        const lines = result.unopenable.map((f) => `  ${f.fileId}  key "${f.keyId}"${f.reason === 'integrity' ? ' (its wrapped key does not authenticate)' : ' (not configured)'}`);
        throw new FailureError(
          `${result.unopenable.length} file${result.unopenable.length === 1 ? '' : 's'} could not be re-wrapped and cannot be opened:\n${lines.join('\n')}\n` +
            'Put the key they name back in FILE_ENCRYPTION_KEYS (after the newest) and run this again.',
        );
      }
      return;
    }
  }
}

async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new FailureError(`${file} cannot be read: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FailureError(`${file} is not JSON: ${(error as Error).message}`);
  }
}

/** Loads a Questionnaire file as the server would, without a database: prints OK or every reason it is refused. */
async function checkQuestionnaire(file: string): Promise<number> {
  const { loadQuestionnaire, allItems, isQuestion } = await import('../features/questionnaires/definition.ts');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const reason = error instanceof SyntaxError ? `is not JSON: ${error.message}` : `cannot be read: ${(error as Error).message}`;
    process.stderr.write(`${file} ${reason}\n`);
    return 1;
  }
  const result = loadQuestionnaire(json);
  if (!result.ok) {
    process.stderr.write(`Refused: ${file}\n${result.problems.map((p) => `${p.linkId}: ${p.message}`).join('\n')}\n`);
    return 1;
  }
  const { definition } = result;
  const questions = [...allItems(definition.items)].filter(isQuestion).length;
  process.stdout.write(`OK: ${definition.title ?? definition.name ?? '(untitled)'} ${definition.url}|${definition.version}, ${questions} question${questions === 1 ? '' : 's'}\n`);
  return 0;
}

/** Service field names in the words of the command line. */
const OPTION_OF: Record<string, string> = { odsCode: '--ods', contactPhone: '--phone', name: '--name', email: '--email', password: 'password' };

function pgliteInUse(config: Config): string | null {
  if (config.databaseUrl) return null;
  // PGlite writes postmaster.pid while open and removes it on close; it takes no lock, so a second
  // process would open (and could corrupt) a database the server is using.
  const pidFile = path.join(config.dataDir, 'pglite', 'postmaster.pid');
  return existsSync(pidFile) ? pidFile : null;
}

async function main(argv: string[]): Promise<number> {
  let parsed: Parsed | 'help';
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\nRun with --help to see the commands.\n`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (parsed.command === 'questionnaire:check') return checkQuestionnaire(parsed.positionals[0]!);

  const m = await loadModules();
  let config: Config;
  try {
    config = m.loadConfig(process.env);
  } catch (error) {
    if (error instanceof m.ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const busy = pgliteInUse(config);
  if (busy) {
    process.stderr.write(
      `The embedded database in ${config.dataDir} is in use, probably by a running Dovecote server, and allows one process at a time.\n` +
        'Stop the server and try again, or point both at PostgreSQL with DATABASE_URL.\n' +
        `(If no Dovecote process is running, the server stopped without closing it: start and stop the server once, or remove ${busy}.)\n`,
    );
    return 1;
  }

  let database: Database | undefined;
  try {
    database = await m.openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
    await database.migrate();
    await run(m, parsed, database, config);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\nRun with --help to see the commands.\n`);
      return 2;
    }
    if (error instanceof FailureError || (error instanceof m.AppError && error.expose)) {
      process.stderr.write(`${error instanceof m.AppError ? error.publicMessage : error.message}\n`);
      return 1;
    }
    if (error instanceof m.z.ZodError) {
      const where = (i: { path: PropertyKey[] }) => (i.path.length > 0 ? `${OPTION_OF[String(i.path[0])] ?? String(i.path[0])}: ` : '');
      process.stderr.write(`${error.issues.map((i) => `${where(i)}${i.message}`).join('\n')}\n`);
      return 1;
    }
    process.stderr.write(`Failed: ${(error as Error).message}\n`);
    return 1;
  } finally {
    await database?.close().catch(() => {});
  }
}

process.exitCode = await main(process.argv.slice(2));

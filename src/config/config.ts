// One validated configuration, read once at start-up from the environment. Secrets have no production
// defaults: in development they are generated once and kept under DATA_DIR; in production a missing
// secret stops the service with its name.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import path from 'node:path';
import type { JWK } from 'jose';
import { z } from 'zod';
import { parseFileKeys, type FileKey } from '../platform/files/envelope.ts';

const booleanFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  PUBLIC_BASE_URL: z.url().optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z.url().optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(20),
  DATABASE_MIGRATE_ON_START: booleanFromEnv.default(true),
  DATABASE_APP_ROLE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a PostgreSQL role name (lower-case letters, digits and _)')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TRUST_PROXY: z.string().optional(),
  DEMO_DATA: booleanFromEnv.optional(),
  SMS_PROVIDER: z.enum(['development', 'notify']).optional(),
  NOTIFY_API_KEY: z.string().min(74).optional(),
  NOTIFY_BASE_URL: z.url().default('https://api.notifications.service.gov.uk'),
  NOTIFY_TEMPLATE_ID: z.string().min(1).optional(),
  NOTIFY_CALLBACK_TOKEN: z.string().min(16).optional(),
  // A bearer token (RFC 6750 token68-like: visible ASCII, no spaces), or it could never match a header.
  METRICS_TOKEN: z
    .string()
    .regex(/^[\x21-\x7E]{16,}$/, 'METRICS_TOKEN must be at least 16 visible characters, without spaces')
    .optional(),
  SMS_RATE_PER_MINUTE: z.coerce.number().int().min(1).default(3000),
  SMS_SEND_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(10),
  CODE_HMAC_KEYS: z.string().optional(),
  COOKIE_SECRET: z.string().min(32).optional(),
  LINK_TTL_DAYS: z.coerce.number().int().min(1).max(90).default(7),
  QUESTIONNAIRE_LINK_TTL_DAYS: z.coerce.number().int().min(1).max(28).default(7),
  BOOKING_LINK_TTL_DAYS: z.coerce.number().int().min(1).max(28).default(7),
  BOOKING_HOLD_MINUTES: z.coerce.number().int().min(1).max(60).default(10),
  BOOKING_HOLDS_PER_INVITATION: z.coerce.number().int().min(1).max(100).default(10),
  BOOKING_REMINDER_DAYS_BEFORE: z.coerce.number().int().min(0).max(7).default(1),
  API_RATE_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  ORGANISATION_DAILY_SEND_LIMIT: z.coerce.number().int().min(1).default(5000),
  SHUTDOWN_DRAIN_SECONDS: z.coerce.number().min(0).max(60).optional(),
  MAINTENANCE_INTERVAL_MINUTES: z.coerce.number().min(1).max(1440).default(15),
  NHS_LOGIN_ISSUER: z.url().optional(),
  NHS_LOGIN_CLIENT_ID: z.string().min(1).optional(),
  NHS_LOGIN_PRIVATE_KEY: z.string().min(1).optional(),
  NHS_LOGIN_PRIVATE_KEY_FILE: z.string().min(1).optional(),
  NHS_LOGIN_SCOPES: z.string().min(1).default('openid profile'),
  NHS_LOGIN_VTR: z.string().min(1).default('["P9.Cp.Cd","P9.Cp.Ck","P9.Cm"]'),
  NHS_LOGIN_REDIRECT_PATH: z
    .string()
    .regex(/^\/[A-Za-z0-9/_-]*$/, 'must be a path such as /nhs-login/callback')
    .default('/nhs-login/callback'),
  NHS_LOGIN_STAND_IN_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  FILE_STORAGE: z.enum(['local', 's3']).default('local'),
  S3_BUCKET: z.string().min(3).optional(),
  S3_REGION: z.string().min(1).default('eu-west-2'),
  S3_ENDPOINT: z.url().optional(),
  S3_FORCE_PATH_STYLE: booleanFromEnv.default(false),
  S3_PREFIX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*(\/[a-z0-9][a-z0-9-]*)*$/, 'must be lower-case letters, digits, - and / (e.g. dovecote/files)')
    .optional(),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  FILE_ENCRYPTION_KEYS: z.string().optional(),
  FILE_SCANNER: z.enum(['clamd', 'none']).optional(),
  STAFF_SECOND_FACTOR: z.enum(['required', 'off']).default('required'),
  CLAMD_SOCKET: z.string().min(1).optional(),
  CLAMD_HOST: z.string().min(1).default('127.0.0.1'),
  CLAMD_PORT: z.coerce.number().int().min(1).max(65535).default(3310),
  CLAMD_TIMEOUT_SECONDS: z.coerce.number().min(1).max(300).default(30),
  DOCUMENT_MAX_MB: z.coerce.number().min(0.01).max(100).default(10),
  DOCUMENT_AVAILABLE_DAYS: z.coerce.number().int().min(1).max(365).default(28),
  DOCUMENT_NOT_OPENED_DAYS: z.coerce.number().int().min(1).max(28).default(3),
  ATTACHMENT_MAX_MB: z.coerce.number().min(0.01).max(25).default(7),
  ATTACHMENTS_PER_REPLY: z.coerce.number().int().min(1).max(10).default(5),
});

export type Env = z.infer<typeof envSchema>;

export interface HmacKey {
  id: string;
  secret: Buffer;
}

/** NHS login relying party settings (DESIGN.md §3 "NHS login"). */
export interface NhsLoginConfig {
  /** Exact issuer identifier; discovery reads `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  /** RSA private key (JWK, with kid) that signs private_key_jwt client assertions with RS512. */
  privateJwk: JWK & { kid: string };
  /** Space-separated scopes, e.g. "openid profile". */
  scopes: string;
  /** Vectors of trust asked for (sent as the JSON `vtr` parameter). */
  vtr: string[];
  /** PUBLIC_BASE_URL + NHS_LOGIN_REDIRECT_PATH, sent and checked exactly. */
  redirectUri: string;
  /** Only for a plain-http loopback issuer (the local stand-in) outside production. */
  allowInsecureRequests: boolean;
  /** Set when development or tests use the local stand-in provider instead of NHS login. */
  standIn?: { port: number };
}

export interface Config {
  env: 'development' | 'production' | 'test';
  isProduction: boolean;
  port: number;
  host: string;
  publicBaseUrl: string;
  dataDir: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  logLevel: Env['LOG_LEVEL'];
  /** Proxies whose X-Forwarded-For is believed (addresses, CIDR ranges or proxy-addr's named ranges); false: none. */
  trustProxy: false | string[];
  /** Apply migrations at start-up; false when the app connects as a role that does not own the tables. */
  databaseMigrateOnStart: boolean;
  demoData: boolean;
  sms: {
    provider: 'development' | 'notify';
    ratePerMinute: number;
    concurrency: number;
    notify?: {
      apiKey: string;
      baseUrl: string;
      /** The one template, whose whole content is `((message))`: Dovecote renders every text itself. */
      templateId: string;
      callbackToken: string;
    };
  };
  /** Newest first: codes are signed with the first key and checked against the one named on the row. */
  codeHmacKeys: HmacKey[];
  cookieSecret: string;
  linkTtlDays: number;
  /** How long a questionnaire stays open when the sender does not choose (issue 11: 7 days). */
  questionnaireLinkTtlDays: number;
  booking: {
    /** How long an invitation can be used to book (issue 12: 7 days). Once booked, the link works until the appointment. */
    linkTtlDays: number;
    /** How long a chosen time is kept for the patient while they confirm. */
    holdMinutes: number;
    /** Times one invitation may hold, so choosing again and again cannot keep a time from others for ever. */
    holdsPerInvitation: number;
    /** The reminder text goes this many days before (on that UK day, from 10am); 0 sends none. */
    reminderDaysBefore: number;
  };
  /** Requests a minute allowed for one API key. */
  apiRatePerMinute: number;
  /**
   * New conversations (each a text with a link) one organisation may start in a UK day, by staff and
   * API keys together; operators are warned at 80%. A runaway script or a stolen key stops there.
   */
  organisationDailySendLimit: number;
  /** On SIGTERM, seconds of /ready answering 503 (still serving) before the listener closes. */
  shutdownDrainSeconds: number;
  /** How often each instance deletes expired sessions, rate-limit windows and NHS login sign-ins. */
  maintenanceIntervalMinutes: number;
  /**
   * The bearer token GET /metrics asks for. Unset: /metrics is off (404) in production and open
   * outside it (a loopback-only service there).
   */
  metricsToken: string | undefined;
  /** Undefined when NHS login is off (production without NHS_LOGIN_ISSUER): pages show no button. */
  nhsLogin?: NhsLoginConfig;
  files: FilesConfig;
  staff: {
    /**
     * 'required': every account must set up an authenticator app and give a code after its password
     * before any staff page (the only choice in production). 'off': password only, outside production.
     */
    secondFactor: 'required' | 'off';
  };
}

/** Where files are kept, how they are encrypted and scanned, and what is taken (issue 13; docs/files.md). */
export interface FilesConfig {
  storage:
    | { kind: 'local'; rootDir: string }
    | {
        kind: 's3';
        bucket: string;
        region: string;
        endpoint?: string;
        forcePathStyle: boolean;
        prefix?: string;
        credentials?: { accessKeyId: string; secretAccessKey: string };
      };
  /** Newest first: new files are sealed with the first; the others still open what they sealed. */
  encryptionKeys: FileKey[];
  /** 'none' (development only) stores files unscanned, and pages and logs say so. */
  scanner: { kind: 'none' } | { kind: 'clamd'; socket?: string; host: string; port: number; timeoutMs: number };
  documentMaxBytes: number;
  /** How long a patient can open a document; then its bytes are deleted. */
  documentAvailableDays: number;
  /** After this many days unopened, a document is listed for staff as "not opened". */
  documentNotOpenedDays: number;
  attachmentMaxBytes: number;
  attachmentsPerReply: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface DevSecrets {
  codeHmacKeys: string;
  cookieSecret: string;
  notifyCallbackToken: string;
  fileEncryptionKeys: string;
}

/** Development only: secrets made once and kept beside the embedded database. */
function loadOrCreateDevSecrets(dataDir: string): DevSecrets {
  const file = path.join(dataDir, 'secrets.json');
  const kept = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<DevSecrets>) : undefined;
  // A data directory made before a secret existed gains it, and keeps the ones it has.
  const secrets: DevSecrets = {
    codeHmacKeys: kept?.codeHmacKeys ?? `k1:${randomBytes(32).toString('base64url')}`,
    cookieSecret: kept?.cookieSecret ?? randomBytes(32).toString('base64url'),
    notifyCallbackToken: kept?.notifyCallbackToken ?? randomBytes(24).toString('base64url'),
    fileEncryptionKeys: kept?.fileEncryptionKeys ?? `f1:${randomBytes(32).toString('base64url')}`,
  };
  if (!kept || Object.keys(secrets).some((k) => !(k in kept))) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  }
  return secrets;
}

const NHS_LOGIN_DEV_CLIENT_ID = 'dovecote-local';
let testNhsLoginKey: string | undefined;

/** Development/test only: the client's RSA key pair, made once and kept under DATA_DIR. */
function loadOrCreateDevNhsLoginKey(dataDir: string, isTest: boolean): string {
  const file = path.join(dataDir, 'nhs-login-client-key.json');
  if (existsSync(file)) return readFileSync(file, 'utf8');
  // Every test has its own DATA_DIR: one key per test process keeps start-up quick.
  const jwk =
    isTest && testNhsLoginKey
      ? testNhsLoginKey
      : JSON.stringify(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }));
  if (isTest) testNhsLoginKey = jwk;
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, jwk, { mode: 0o600 });
  return jwk;
}

/** An RSA private key (PEM or JWK JSON) as a JWK with a kid (the RFC 7638 thumbprint when it has none). */
export function parseNhsLoginPrivateKey(raw: string): JWK & { kid: string } {
  let key: KeyObject;
  let kid: string | undefined;
  try {
    const text = raw.trim();
    if (text.startsWith('{')) {
      const jwk = JSON.parse(text) as JWK;
      kid = typeof jwk.kid === 'string' ? jwk.kid : undefined;
      key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } else {
      key = createPrivateKey(text);
    }
  } catch {
    throw new ConfigError('NHS_LOGIN_PRIVATE_KEY is not a readable private key (PEM or JWK JSON)');
  }
  if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    throw new ConfigError('NHS_LOGIN_PRIVATE_KEY must be an RSA key of at least 2048 bits (NHS login signs with RS512)');
  }
  const jwk = key.export({ format: 'jwk' }) as JWK;
  const thumbprint = createHash('sha256')
    .update(JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n }))
    .digest('base64url');
  return { ...jwk, kid: kid ?? thumbprint };
}

function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** localhost, 127.0.0.0/8 or ::1 (also written [::1] or as an IPv4-mapped ::ffff:127.x address). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (bare === 'localhost') return true;
  const family = isIP(bare);
  return family !== 0 && loopback.check(bare, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * Links, cookies and the Notify API key must travel over TLS in production. Plain http is accepted only
 * for a loopback host (e.g. the benchmark's Notify stand-in on the same machine): nothing leaves it.
 */
function requireHttpsInProduction(name: string, value: string): void {
  const url = new URL(value);
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  throw new ConfigError(`${name} must be an https:// address in production (plain http is accepted only for localhost or 127.0.0.1)`);
}

// proxy-addr's names for address ranges, as Fastify's trustProxy accepts them.
const NAMED_PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal'];
const proxyAddress = z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6(), z.enum(NAMED_PROXY_RANGES)]);

/**
 * Whose X-Forwarded-For to believe. Every per-address limit (link look-ups, dates of birth, sign-in)
 * and the audit trail's addresses key on the answer, so a client must never choose it: `true` would
 * believe any sender, and a hop count cannot tell a proxy from a client that reaches Dovecote directly
 * (Fastify 5.12.1 turned hop counts off for that reason). Only the proxies' own addresses are trusted.
 */
export function parseTrustProxy(raw: string | undefined): false | string[] {
  const value = raw?.trim().toLowerCase();
  if (value === undefined || value === 'false' || value === 'no' || value === '0') return false;
  const instead = "set it to the addresses of the proxies in front of Dovecote, comma-separated (addresses or CIDR ranges, or loopback, linklocal, uniquelocal), e.g. TRUST_PROXY=10.0.0.0/8";
  if (value === 'true' || value === 'yes') {
    throw new ConfigError(`TRUST_PROXY=${raw} would believe X-Forwarded-For from anyone, so any client could choose its own address: ${instead}`);
  }
  if (/^\d+$/.test(value)) {
    throw new ConfigError(`TRUST_PROXY=${raw} is a hop count, which cannot tell a proxy from a client that reaches Dovecote directly: ${instead}`);
  }
  const entries = value.split(',').map((entry) => entry.trim());
  const bad = entries.filter((entry) => !proxyAddress.safeParse(entry).success);
  if (bad.length > 0) {
    throw new ConfigError(`TRUST_PROXY must be false or proxy addresses; not an address or range: ${bad.map((b) => JSON.stringify(b)).join(', ')}. ${instead}`);
  }
  return entries;
}

function loadNhsLoginConfig(e: Env, opts: { isProduction: boolean; dataDir: string; publicBaseUrl: string }): NhsLoginConfig | undefined {
  const { isProduction } = opts;
  if (isProduction && !e.NHS_LOGIN_ISSUER) return undefined;
  let vtr: string[];
  try {
    vtr = z.array(z.string().min(1)).min(1).parse(JSON.parse(e.NHS_LOGIN_VTR));
  } catch {
    throw new ConfigError('NHS_LOGIN_VTR must be a JSON array of vectors of trust, e.g. ["P9.Cp.Cd","P9.Cp.Ck","P9.Cm"]');
  }
  if (!e.NHS_LOGIN_SCOPES.split(/\s+/).includes('openid')) throw new ConfigError('NHS_LOGIN_SCOPES must include openid');
  if (e.NHS_LOGIN_PRIVATE_KEY && e.NHS_LOGIN_PRIVATE_KEY_FILE) {
    throw new ConfigError('Set NHS_LOGIN_PRIVATE_KEY or NHS_LOGIN_PRIVATE_KEY_FILE, not both');
  }
  let rawKey = e.NHS_LOGIN_PRIVATE_KEY;
  if (e.NHS_LOGIN_PRIVATE_KEY_FILE) {
    try {
      rawKey = readFileSync(e.NHS_LOGIN_PRIVATE_KEY_FILE, 'utf8');
    } catch {
      throw new ConfigError(`NHS_LOGIN_PRIVATE_KEY_FILE cannot be read: ${e.NHS_LOGIN_PRIVATE_KEY_FILE}`);
    }
  }
  const standInPort = e.NHS_LOGIN_STAND_IN_PORT ?? (e.PORT === 0 ? 0 : Math.min(e.PORT + 1, 65535));
  const issuer = e.NHS_LOGIN_ISSUER ?? `http://127.0.0.1:${standInPort}`;
  const clientId = e.NHS_LOGIN_CLIENT_ID ?? (e.NHS_LOGIN_ISSUER ? undefined : NHS_LOGIN_DEV_CLIENT_ID);
  if (isProduction) {
    const missing = [
      ['NHS_LOGIN_CLIENT_ID', clientId],
      ['NHS_LOGIN_PRIVATE_KEY or NHS_LOGIN_PRIVATE_KEY_FILE', rawKey],
    ]
      .filter(([, v]) => !v)
      .map(([k]) => k);
    if (missing.length > 0) throw new ConfigError(`NHS_LOGIN_ISSUER is set, so these are needed too: ${missing.join(', ')}`);
    if (new URL(issuer).protocol !== 'https:') throw new ConfigError('NHS_LOGIN_ISSUER must be an https URL in production');
  }
  if (!clientId) throw new ConfigError('NHS_LOGIN_ISSUER is set, so NHS_LOGIN_CLIENT_ID is needed too');
  const privateJwk = parseNhsLoginPrivateKey(rawKey ?? loadOrCreateDevNhsLoginKey(opts.dataDir, e.NODE_ENV === 'test'));
  return {
    issuer,
    clientId,
    privateJwk,
    scopes: e.NHS_LOGIN_SCOPES.trim().split(/\s+/).join(' '),
    vtr,
    redirectUri: `${opts.publicBaseUrl}${e.NHS_LOGIN_REDIRECT_PATH}`,
    allowInsecureRequests: !isProduction && isLoopbackHttp(new URL(issuer)),
    standIn: e.NHS_LOGIN_ISSUER ? undefined : { port: standInPort },
  };
}

function parseHmacKeys(raw: string): HmacKey[] {
  const keys = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const sep = entry.indexOf(':');
      if (sep < 1) throw new ConfigError('CODE_HMAC_KEYS must be a comma-separated list of id:base64url-secret');
      const secret = Buffer.from(entry.slice(sep + 1), 'base64url');
      if (secret.length < 32) throw new ConfigError('each CODE_HMAC_KEYS secret must be at least 32 bytes');
      return { id: entry.slice(0, sep), secret };
    });
  if (keys.length === 0) throw new ConfigError('CODE_HMAC_KEYS is empty');
  return keys;
}

/**
 * What start-up says outside production, so nobody mistakes a development service for a real one:
 * what is on that must never face patients, and that it listens on this machine only.
 */
export function developmentModeNotice(config: Pick<Config, 'env' | 'isProduction' | 'host' | 'demoData' | 'sms'>): string[] {
  if (config.isProduction) return [];
  const risky = [
    ...(config.demoData ? ['a demo staff account with a published password'] : []),
    ...(config.sms.provider === 'development' ? ['/dev/phone showing every text, links and codes included'] : []),
    'secrets generated when not set',
    'no HSTS',
  ];
  return [
    `Development mode (NODE_ENV=${config.env}), not for real patients: ${risky.join(', ')}.`,
    `Listening on ${config.host} only, so other machines cannot reach it. To serve them, set NODE_ENV=production.`,
  ];
}

/** What `npm run db:migrate` needs: the database, connected as the tables' owner, and the app's role. */
export interface MigrationConfig {
  databaseUrl: string | undefined;
  dataDir: string;
  /** Granted the app's privileges after migrating (audit events: insert and read only). */
  appRole: string | undefined;
}

export function loadMigrationConfig(source: NodeJS.ProcessEnv = process.env): MigrationConfig {
  const parsed = envSchema.pick({ DATA_DIR: true, DATABASE_URL: true, DATABASE_APP_ROLE: true }).safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  if (e.DATABASE_APP_ROLE && !e.DATABASE_URL) {
    throw new ConfigError('DATABASE_APP_ROLE needs DATABASE_URL: the embedded database has a single user');
  }
  return { databaseUrl: e.DATABASE_URL, dataDir: path.resolve(e.DATA_DIR), appRole: e.DATABASE_APP_ROLE };
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  const isProduction = e.NODE_ENV === 'production';
  const dataDir = path.resolve(e.DATA_DIR);
  const smsProvider = e.SMS_PROVIDER ?? (isProduction ? 'notify' : 'development');

  if (isProduction) {
    const missing = [
      ['DATABASE_URL', e.DATABASE_URL],
      ['PUBLIC_BASE_URL', e.PUBLIC_BASE_URL],
      ['CODE_HMAC_KEYS', e.CODE_HMAC_KEYS],
      ['COOKIE_SECRET', e.COOKIE_SECRET],
      ['NOTIFY_API_KEY', e.NOTIFY_API_KEY],
      ['NOTIFY_TEMPLATE_ID', e.NOTIFY_TEMPLATE_ID],
      ['NOTIFY_CALLBACK_TOKEN', e.NOTIFY_CALLBACK_TOKEN],
      ['FILE_ENCRYPTION_KEYS', e.FILE_ENCRYPTION_KEYS],
    ]
      .filter(([, v]) => !v)
      .map(([k]) => k);
    if (missing.length > 0) {
      throw new ConfigError(`Production needs these settings, which are missing: ${missing.join(', ')}`);
    }
    if (smsProvider !== 'notify') throw new ConfigError('SMS_PROVIDER=development is not allowed in production');
    if (e.DEMO_DATA) throw new ConfigError('DEMO_DATA is not allowed in production');
    // DESIGN.md §3: a password alone never reaches patient data in production.
    if (e.STAFF_SECOND_FACTOR !== 'required') throw new ConfigError('STAFF_SECOND_FACTOR=off is not allowed in production');
    // Fail closed: a file nobody scanned never reaches a patient or a clinician's screen in production.
    if (e.FILE_SCANNER !== 'clamd') {
      throw new ConfigError('Production needs FILE_SCANNER=clamd (with CLAMD_SOCKET, or CLAMD_HOST and CLAMD_PORT): files are never taken unscanned');
    }
    requireHttpsInProduction('PUBLIC_BASE_URL', e.PUBLIC_BASE_URL!);
    requireHttpsInProduction('NOTIFY_BASE_URL', e.NOTIFY_BASE_URL);
  } else if (!isLoopbackHost(e.HOST)) {
    // Outside production there is a demo staff account with a published password, /dev/phone shows
    // every text (links and codes), secrets are generated and there is no HSTS: reachable only from
    // this machine, whatever HOST says.
    const mode = source.NODE_ENV ? `NODE_ENV=${e.NODE_ENV}` : 'NODE_ENV is not set, so this is development mode';
    throw new ConfigError(
      `HOST=${e.HOST} would let other machines reach a development service (${mode}: demo staff account, /dev/phone, generated secrets). ` +
        'Set NODE_ENV=production to serve other machines, or HOST=127.0.0.1 to stay on this one.',
    );
  }

  const devSecrets = isProduction ? undefined : loadOrCreateDevSecrets(dataDir);
  const callbackToken = e.NOTIFY_CALLBACK_TOKEN ?? devSecrets?.notifyCallbackToken;

  if (smsProvider === 'notify' && (!e.NOTIFY_API_KEY || !e.NOTIFY_TEMPLATE_ID)) {
    throw new ConfigError('SMS_PROVIDER=notify needs NOTIFY_API_KEY and NOTIFY_TEMPLATE_ID');
  }

  const publicBaseUrl = (e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, '');

  return {
    env: e.NODE_ENV,
    isProduction,
    port: e.PORT,
    host: e.HOST,
    publicBaseUrl,
    dataDir,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    logLevel: e.LOG_LEVEL,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    databaseMigrateOnStart: e.DATABASE_MIGRATE_ON_START,
    demoData: e.DEMO_DATA ?? e.NODE_ENV === 'development',
    sms: {
      provider: smsProvider,
      ratePerMinute: e.SMS_RATE_PER_MINUTE,
      concurrency: e.SMS_SEND_CONCURRENCY,
      notify:
        smsProvider === 'notify'
          ? {
              apiKey: e.NOTIFY_API_KEY!,
              baseUrl: e.NOTIFY_BASE_URL,
              templateId: e.NOTIFY_TEMPLATE_ID!,
              callbackToken: callbackToken!,
            }
          : undefined,
    },
    codeHmacKeys: parseHmacKeys(e.CODE_HMAC_KEYS ?? devSecrets!.codeHmacKeys),
    cookieSecret: e.COOKIE_SECRET ?? devSecrets!.cookieSecret,
    linkTtlDays: e.LINK_TTL_DAYS,
    questionnaireLinkTtlDays: e.QUESTIONNAIRE_LINK_TTL_DAYS,
    booking: {
      linkTtlDays: e.BOOKING_LINK_TTL_DAYS,
      holdMinutes: e.BOOKING_HOLD_MINUTES,
      holdsPerInvitation: e.BOOKING_HOLDS_PER_INVITATION,
      reminderDaysBefore: e.BOOKING_REMINDER_DAYS_BEFORE,
    },
    apiRatePerMinute: e.API_RATE_PER_MINUTE,
    organisationDailySendLimit: e.ORGANISATION_DAILY_SEND_LIMIT,
    shutdownDrainSeconds: e.SHUTDOWN_DRAIN_SECONDS ?? (isProduction ? 5 : 0),
    maintenanceIntervalMinutes: e.MAINTENANCE_INTERVAL_MINUTES,
    metricsToken: e.METRICS_TOKEN,
    nhsLogin: loadNhsLoginConfig(e, { isProduction, dataDir, publicBaseUrl }),
    files: loadFilesConfig(e, { dataDir, fileEncryptionKeys: e.FILE_ENCRYPTION_KEYS ?? devSecrets!.fileEncryptionKeys }),
    staff: { secondFactor: e.STAFF_SECOND_FACTOR },
  };
}

const megabytes = (mb: number) => Math.round(mb * 1024 * 1024);

function loadFilesConfig(e: Env, opts: { dataDir: string; fileEncryptionKeys: string }): FilesConfig {
  let storage: FilesConfig['storage'];
  if (e.FILE_STORAGE === 's3') {
    if (!e.S3_BUCKET) throw new ConfigError('FILE_STORAGE=s3 needs S3_BUCKET');
    if (Boolean(e.S3_ACCESS_KEY_ID) !== Boolean(e.S3_SECRET_ACCESS_KEY)) {
      throw new ConfigError('Set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither (to use the AWS default credentials)');
    }
    storage = {
      kind: 's3',
      bucket: e.S3_BUCKET,
      region: e.S3_REGION,
      endpoint: e.S3_ENDPOINT,
      forcePathStyle: e.S3_FORCE_PATH_STYLE,
      prefix: e.S3_PREFIX,
      credentials: e.S3_ACCESS_KEY_ID ? { accessKeyId: e.S3_ACCESS_KEY_ID, secretAccessKey: e.S3_SECRET_ACCESS_KEY! } : undefined,
    };
  } else {
    storage = { kind: 'local', rootDir: path.join(opts.dataDir, 'files') };
  }
  let encryptionKeys: FileKey[];
  try {
    encryptionKeys = parseFileKeys(opts.fileEncryptionKeys, 'FILE_ENCRYPTION_KEYS');
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (e.DOCUMENT_NOT_OPENED_DAYS >= e.DOCUMENT_AVAILABLE_DAYS) {
    throw new ConfigError('DOCUMENT_NOT_OPENED_DAYS must be fewer than DOCUMENT_AVAILABLE_DAYS: a document not opened is listed while the patient can still open it');
  }
  const scannerKind = e.FILE_SCANNER ?? 'none';
  return {
    storage,
    encryptionKeys,
    scanner:
      scannerKind === 'clamd'
        ? { kind: 'clamd', socket: e.CLAMD_SOCKET, host: e.CLAMD_HOST, port: e.CLAMD_PORT, timeoutMs: e.CLAMD_TIMEOUT_SECONDS * 1000 }
        : { kind: 'none' },
    documentMaxBytes: megabytes(e.DOCUMENT_MAX_MB),
    documentAvailableDays: e.DOCUMENT_AVAILABLE_DAYS,
    documentNotOpenedDays: e.DOCUMENT_NOT_OPENED_DAYS,
    attachmentMaxBytes: megabytes(e.ATTACHMENT_MAX_MB),
    attachmentsPerReply: e.ATTACHMENTS_PER_REPLY,
  };
}

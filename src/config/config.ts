// One validated configuration, read once at start-up from the environment. Secrets have no production
// defaults: in development they are generated once and kept under DATA_DIR; in production a missing
// secret stops the service with its name.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

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
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TRUST_PROXY: booleanFromEnv.default(false),
  DEMO_DATA: booleanFromEnv.optional(),
  SMS_PROVIDER: z.enum(['development', 'notify']).optional(),
  NOTIFY_API_KEY: z.string().min(74).optional(),
  NOTIFY_BASE_URL: z.url().default('https://api.notifications.service.gov.uk'),
  NOTIFY_TEMPLATE_MESSAGE_LINK: z.string().min(1).optional(),
  NOTIFY_TEMPLATE_SECURITY_CODE: z.string().min(1).optional(),
  NOTIFY_CALLBACK_TOKEN: z.string().min(16).optional(),
  SMS_RATE_PER_MINUTE: z.coerce.number().int().min(1).default(3000),
  SMS_SEND_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(10),
  CODE_HMAC_KEYS: z.string().optional(),
  COOKIE_SECRET: z.string().min(32).optional(),
  LINK_TTL_DAYS: z.coerce.number().int().min(1).max(90).default(7),
});

export type Env = z.infer<typeof envSchema>;

export interface HmacKey {
  id: string;
  secret: Buffer;
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
  trustProxy: boolean;
  demoData: boolean;
  sms: {
    provider: 'development' | 'notify';
    ratePerMinute: number;
    concurrency: number;
    notify?: {
      apiKey: string;
      baseUrl: string;
      templates: { message_link: string; security_code: string };
      callbackToken: string;
    };
  };
  /** Newest first: codes are signed with the first key and checked against the one named on the row. */
  codeHmacKeys: HmacKey[];
  cookieSecret: string;
  linkTtlDays: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface DevSecrets {
  codeHmacKeys: string;
  cookieSecret: string;
  notifyCallbackToken: string;
}

/** Development only: secrets made once and kept beside the embedded database. */
function loadOrCreateDevSecrets(dataDir: string): DevSecrets {
  const file = path.join(dataDir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DevSecrets;
  mkdirSync(dataDir, { recursive: true });
  const secrets: DevSecrets = {
    codeHmacKeys: `k1:${randomBytes(32).toString('base64url')}`,
    cookieSecret: randomBytes(32).toString('base64url'),
    notifyCallbackToken: randomBytes(24).toString('base64url'),
  };
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
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
      ['NOTIFY_TEMPLATE_MESSAGE_LINK', e.NOTIFY_TEMPLATE_MESSAGE_LINK],
      ['NOTIFY_TEMPLATE_SECURITY_CODE', e.NOTIFY_TEMPLATE_SECURITY_CODE],
      ['NOTIFY_CALLBACK_TOKEN', e.NOTIFY_CALLBACK_TOKEN],
    ]
      .filter(([, v]) => !v)
      .map(([k]) => k);
    if (missing.length > 0) {
      throw new ConfigError(`Production needs these settings, which are missing: ${missing.join(', ')}`);
    }
    if (smsProvider !== 'notify') throw new ConfigError('SMS_PROVIDER=development is not allowed in production');
    if (e.DEMO_DATA) throw new ConfigError('DEMO_DATA is not allowed in production');
  }

  const devSecrets = isProduction ? undefined : loadOrCreateDevSecrets(dataDir);
  const callbackToken = e.NOTIFY_CALLBACK_TOKEN ?? devSecrets?.notifyCallbackToken;

  if (smsProvider === 'notify' && (!e.NOTIFY_API_KEY || !e.NOTIFY_TEMPLATE_MESSAGE_LINK || !e.NOTIFY_TEMPLATE_SECURITY_CODE)) {
    throw new ConfigError(
      'SMS_PROVIDER=notify needs NOTIFY_API_KEY, NOTIFY_TEMPLATE_MESSAGE_LINK and NOTIFY_TEMPLATE_SECURITY_CODE',
    );
  }

  return {
    env: e.NODE_ENV,
    isProduction,
    port: e.PORT,
    host: e.HOST,
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    dataDir,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    logLevel: e.LOG_LEVEL,
    trustProxy: e.TRUST_PROXY,
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
              templates: {
                message_link: e.NOTIFY_TEMPLATE_MESSAGE_LINK!,
                security_code: e.NOTIFY_TEMPLATE_SECURITY_CODE!,
              },
              callbackToken: callbackToken!,
            }
          : undefined,
    },
    codeHmacKeys: parseHmacKeys(e.CODE_HMAC_KEYS ?? devSecrets!.codeHmacKeys),
    cookieSecret: e.COOKIE_SECRET ?? devSecrets!.cookieSecret,
    linkTtlDays: e.LINK_TTL_DAYS,
  };
}

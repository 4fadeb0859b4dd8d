// The pieces of the staff second factor that are pure computation: sealing the TOTP key at rest, the
// codes themselves (RFC 6238: SHA-1, 6 digits, 30-second steps) and recovery codes.
//
// Sealing: the key is never stored in the clear (DESIGN.md §3, "Secrets at rest"). It is sealed with
// AES-256-GCM under a key derived by HKDF-SHA256 from the newest FILE_ENCRYPTION_KEYS entry, so a
// database copy alone opens nothing; the derivation keeps this use of the key apart from wrapping file
// keys. The stored text names the key id, so after a rotation (a new key put first, old ones kept) the
// keys sealed earlier still open. The staff account's id is the associated data: a sealed key copied
// onto another account does not open.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type { FileKey } from '../../platform/files/envelope.ts';

const HKDF_INFO = 'dovecote staff totp';
const RECOVERY_CODE_HKDF_INFO = 'dovecote staff recovery code';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const TOTP_PERIOD_SECONDS = 30;
const TOTP_DIGITS = 6;
/** The current step and one either side: a phone's clock a little out, or a code typed as it changed. */
const TOTP_WINDOW = 1;

/** A sealed key that does not open: tampered with, copied to another account, or its key id is no longer configured. */
export class TotpSealError extends Error {
  override name = 'TotpSealError';
}

function derivedKey(key: FileKey, info = HKDF_INFO): Buffer {
  return Buffer.from(hkdfSync('sha256', key.secret, Buffer.alloc(0), info, 32));
}

/** `keyId:base64url(iv | tag | ciphertext)`, sealed under the newest key. */
export function sealTotpSecret(keys: readonly FileKey[], secretBase32: string, staffUserId: string): string {
  const key = keys[0];
  if (!key) throw new TotpSealError('No encryption key is configured');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', derivedKey(key), iv);
  cipher.setAAD(Buffer.from(staffUserId, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(secretBase32, 'utf8'), cipher.final()]);
  return `${key.id}:${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url')}`;
}

export function openTotpSecret(keys: readonly FileKey[], sealed: string, staffUserId: string): string {
  const sep = sealed.indexOf(':');
  const key = keys.find((k) => k.id === sealed.slice(0, sep));
  if (sep < 1 || !key) throw new TotpSealError('The key this was sealed with is not configured');
  const bytes = Buffer.from(sealed.slice(sep + 1), 'base64url');
  if (bytes.length <= IV_BYTES + TAG_BYTES) throw new TotpSealError('Sealed key is too short');
  try {
    const decipher = createDecipheriv('aes-256-gcm', derivedKey(key), bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(staffUserId, 'utf8'));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new TotpSealError('Sealed key does not authenticate');
  }
}

/** A new 160-bit key (RFC 4226's recommended length), base32 as authenticator apps take it. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

function totpFor(secretBase32: string, label = 'Dovecote'): TOTP {
  return new TOTP({
    issuer: 'Dovecote',
    label,
    secret: Secret.fromBase32(secretBase32),
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  });
}

export function totpUri(secretBase32: string, organisationName: string, email: string): string {
  return totpFor(secretBase32, `${organisationName} (${email})`).toString();
}

export function totpStep(at: Date): number {
  return Math.floor(at.getTime() / 1000 / TOTP_PERIOD_SECONDS);
}

/** The code for a step (tests, and the comparison below). */
export function totpCode(secretBase32: string, step: number): string {
  return totpFor(secretBase32).generate({ timestamp: step * TOTP_PERIOD_SECONDS * 1000 });
}

/**
 * The step a code belongs to, within the window around now, or null. Every step in the window is
 * compared, in constant time, so the time taken does not say which was close. Whether the step was
 * already used is the caller's atomic check against totpLastStep.
 */
export function matchingTotpStep(secretBase32: string, code: string, now: Date): number | null {
  const current = totpStep(now);
  let found: number | null = null;
  const given = Buffer.from(code.padEnd(TOTP_DIGITS, ' ').slice(0, TOTP_DIGITS));
  for (let step = current - TOTP_WINDOW; step <= current + TOTP_WINDOW; step++) {
    if (timingSafeEqual(Buffer.from(totpCode(secretBase32, step)), given) && code.length === TOTP_DIGITS) found ??= step;
  }
  return found;
}

/** The key in groups of four, for typing into an app by hand. */
export function groupedSecret(secretBase32: string): string {
  return secretBase32.match(/.{1,4}/g)!.join(' ');
}

// ---- Recovery codes --------------------------------------------------------------------------------

export const RECOVERY_CODE_COUNT = 10;
// RFC 4648 base32 without 0/1/8/9: nothing to mistake for O, I, L or B when read off paper.
const RECOVERY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** 10 characters (50 bits) shown as XXXXX-XXXXX; every sign-in with one is rate-limited like a password. */
export function newRecoveryCode(): string {
  let code = '';
  for (let i = 0; i < 10; i++) code += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)];
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

/** What people type, spaces, dashes and case aside. */
export function normaliseRecoveryCode(typed: string): string {
  return typed.toUpperCase().replace(/[\s-]/g, '');
}

/**
 * `keyId:salt:hex(HMAC-SHA256(k, salt | code))` with k derived by HKDF from an encryption key (its own
 * label, apart from sealing TOTP keys). A code has only 50 bits, few enough to try every one against a
 * plain hash; keyed, a copy of the database alone lets no one test guesses offline. The per-code salt
 * keeps equal codes apart; the key id keeps codes made before a key rotation working.
 */
export function hashRecoveryCode(keys: readonly FileKey[], code: string, salt = randomBytes(16).toString('base64url'), keyId = keys[0]?.id): string {
  const key = keys.find((k) => k.id === keyId);
  if (!key) throw new TotpSealError('No encryption key is configured for recovery codes');
  const mac = createHmac('sha256', derivedKey(key, RECOVERY_CODE_HKDF_INFO)).update(`${salt}|${normaliseRecoveryCode(code)}`).digest('hex');
  return `${key.id}:${salt}:${mac}`;
}

export function recoveryCodeMatches(keys: readonly FileKey[], stored: string, typed: string): boolean {
  const [keyId, salt] = stored.split(':');
  if (!keyId || !salt || !keys.some((k) => k.id === keyId)) return false;
  const a = Buffer.from(hashRecoveryCode(keys, typed, salt, keyId));
  const b = Buffer.from(stored);
  return a.length === b.length && timingSafeEqual(a, b);
}

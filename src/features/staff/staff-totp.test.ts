// The TOTP key sealed at rest, the codes (RFC 6238's SHA-1 test vector) and recovery codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Secret } from 'otpauth';
import type { FileKey } from '../../platform/files/envelope.ts';
import {
  groupedSecret,
  hashRecoveryCode,
  matchingTotpStep,
  newRecoveryCode,
  newTotpSecret,
  openTotpSecret,
  recoveryCodeMatches,
  sealTotpSecret,
  TotpSealError,
  totpCode,
  totpStep,
  totpUri,
} from './staff-totp.ts';

const keyA: FileKey = { id: 'a1', secret: Buffer.alloc(32, 1) };
const keyB: FileKey = { id: 'b2', secret: Buffer.alloc(32, 2) };
const ACCOUNT = '6f1c8a52-2d7e-4b0a-9d61-0c3f7a1e2b45';

test('a sealed key is keyId:base64url, holds nothing of the key, and opens only for its account', () => {
  const secret = newTotpSecret();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  const sealed = sealTotpSecret([keyA], secret, ACCOUNT);
  assert.match(sealed, /^a1:[A-Za-z0-9_-]+$/);
  assert.ok(!sealed.includes(secret));
  assert.ok(!sealed.includes(Secret.fromBase32(secret).hex));
  assert.notEqual(sealTotpSecret([keyA], secret, ACCOUNT), sealed, 'a fresh IV each time');
  assert.equal(openTotpSecret([keyA], sealed, ACCOUNT), secret);
  assert.throws(() => openTotpSecret([keyA], sealed, '00000000-0000-4000-8000-000000000000'), TotpSealError);
  // Tampering anywhere fails.
  const bytes = Buffer.from(sealed.slice(3), 'base64url');
  for (const at of [0, 12, 20, bytes.length - 1]) {
    const flipped = Buffer.from(bytes);
    flipped[at]! ^= 1;
    assert.throws(() => openTotpSecret([keyA], `a1:${flipped.toString('base64url')}`, ACCOUNT), TotpSealError, `byte ${at}`);
  }
  assert.throws(() => openTotpSecret([keyA], 'a1:AAAA', ACCOUNT), TotpSealError);
  assert.throws(() => openTotpSecret([keyA], 'nonsense', ACCOUNT), TotpSealError);
});

test('after a key rotation new keys are sealed with the newest and old ones still open; a removed key does not', () => {
  const secret = newTotpSecret();
  const old = sealTotpSecret([keyA], secret, ACCOUNT);
  const rotated = [keyB, keyA];
  assert.equal(openTotpSecret(rotated, old, ACCOUNT), secret);
  assert.match(sealTotpSecret(rotated, secret, ACCOUNT), /^b2:/);
  assert.throws(() => openTotpSecret([keyB], old, ACCOUNT), TotpSealError);
  // The same id with another secret (a key replaced, not rotated) does not open it either.
  assert.throws(() => openTotpSecret([{ id: 'a1', secret: Buffer.alloc(32, 9) }], old, ACCOUNT), TotpSealError);
});

test('codes follow RFC 6238 (SHA-1 test vector) and match the current step or one either side only', () => {
  // RFC 6238 appendix B: key "12345678901234567890", T = 59 s → 94287082 (8 digits); 6 digits → 287082.
  const rfcKey = new Secret({ buffer: new TextEncoder().encode('12345678901234567890').buffer }).base32;
  assert.equal(totpCode(rfcKey, totpStep(new Date(59_000))), '287082');
  assert.equal(totpCode(rfcKey, totpStep(new Date(1_111_111_109_000))), '081804');
  const now = new Date(Date.parse('2026-11-26T10:00:05Z'));
  const step = totpStep(now);
  for (const offset of [-1, 0, 1]) assert.equal(matchingTotpStep(rfcKey, totpCode(rfcKey, step + offset), now), step + offset);
  for (const offset of [-2, 2]) assert.equal(matchingTotpStep(rfcKey, totpCode(rfcKey, step + offset), now), null);
  assert.equal(matchingTotpStep(rfcKey, '12345', now), null);
  assert.equal(matchingTotpStep(rfcKey, `${totpCode(rfcKey, step)}0`, now), null);
});

test('the otpauth URI names Dovecote and the account; the key is shown in fours', () => {
  const uri = new URL(totpUri('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', 'Riverside Surgery', 'jo@example.nhs.uk'));
  assert.equal(uri.protocol, 'otpauth:');
  assert.equal(uri.host, 'totp');
  assert.equal(decodeURIComponent(uri.pathname), '/Dovecote:Riverside Surgery (jo@example.nhs.uk)');
  assert.equal(uri.searchParams.get('issuer'), 'Dovecote');
  assert.equal(uri.searchParams.get('secret'), 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
  assert.equal(uri.searchParams.get('digits'), '6');
  assert.equal(uri.searchParams.get('period'), '30');
  assert.equal(groupedSecret('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'), 'JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP');
});

test('recovery codes: 10 base32 characters in two groups, keyed-hashed with their own salt, matched however typed, after a key rotation too', () => {
  const codes = Array.from({ length: 50 }, newRecoveryCode);
  for (const code of codes) assert.match(code, /^[A-Z2-7]{5}-[A-Z2-7]{5}$/);
  assert.equal(new Set(codes).size, 50);
  const code = codes[0]!;
  const stored = hashRecoveryCode([keyA], code);
  assert.match(stored, /^a1:[A-Za-z0-9_-]+:[0-9a-f]{64}$/);
  assert.ok(!stored.includes(code.replace('-', '')));
  assert.notEqual(hashRecoveryCode([keyA], code), stored, 'a new salt each time');
  assert.ok(recoveryCodeMatches([keyA], stored, code));
  assert.ok(recoveryCodeMatches([keyA], stored, code.toLowerCase().replace('-', ' ')));
  assert.ok(!recoveryCodeMatches([keyA], stored, codes[1]!));
  // Keyed: the same salt and code under another key is another hash, so the table alone tests nothing.
  const [, salt] = stored.split(':');
  assert.notEqual(hashRecoveryCode([keyB], code, salt).split(':')[2], stored.split(':')[2]);
  assert.ok(recoveryCodeMatches([keyB, keyA], stored, code), 'a code made before a rotation still works');
  assert.ok(!recoveryCodeMatches([keyB], stored, code), 'not once its key is removed');
  assert.ok(!recoveryCodeMatches([keyA], 'not-a-stored-code', code));
});

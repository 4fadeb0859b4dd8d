// What makes an NHS login identity strong enough to stand in for a security code: P9, an NHS number,
// and an ID token whose vector of trust (`vot`) is one of those asked for (`vtr`), at P9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identityFromClaims, isP9VectorAskedFor } from './nhs-login.client.ts';

const ASKED_FOR = ['P9.Cp.Cd', 'P9.Cp.Ck', 'P9.Cm'];
const SUB = 'b0a0c0d0-0000-4000-a000-000000000001';
const PROFILE = { sub: SUB, nhs_number: '9990000018', birthdate: '1984-03-12', family_name: 'Shah' };

function strength(idToken: Record<string, unknown>, askedFor: readonly string[] = ASKED_FOR) {
  return identityFromClaims({ sub: SUB, ...idToken }, PROFILE, askedFor).isStrong;
}

test('P9 with a vector of trust that was asked for is strong', () => {
  for (const vot of ASKED_FOR) assert.equal(strength({ identity_proofing_level: 'P9', vot }), true, vot);
  const identity = identityFromClaims({ sub: SUB, identity_proofing_level: 'P9', vot: 'P9.Cp.Cd' }, PROFILE, ASKED_FOR);
  assert.equal(identity.vot, 'P9.Cp.Cd');
});

test('P9 whose ID token has no vot is not strong', () => {
  assert.equal(strength({ identity_proofing_level: 'P9' }), false);
});

test('P9 with a vot that was not asked for is not strong', () => {
  for (const vot of ['P9.Cp', 'P9.Cp.Cd.Ck', 'p9.cp.cd', 'P9.Cp.Cd ', '']) {
    assert.equal(strength({ identity_proofing_level: 'P9', vot }), false, JSON.stringify(vot));
  }
});

test('a vot below P9 is not strong, even when it was asked for and the proofing level says P9', () => {
  const askedFor = ['P5.Cp.Cd', ...ASKED_FOR];
  assert.equal(strength({ identity_proofing_level: 'P9', vot: 'P5.Cp.Cd' }, askedFor), false);
  assert.equal(strength({ identity_proofing_level: 'P5', vot: 'P5.Cp.Cd' }, askedFor), false);
  assert.equal(strength({ identity_proofing_level: 'P5', vot: 'P9.Cp.Cd' }), false, 'the proofing level must say P9 too');
});

test('only the ID token vouches for the vector of trust: a vot in userinfo alone does not count', () => {
  const identity = identityFromClaims({ sub: SUB, identity_proofing_level: 'P9' }, { ...PROFILE, vot: 'P9.Cp.Cd' }, ASKED_FOR);
  assert.equal(identity.vot, null);
  assert.equal(identity.isStrong, false);
});

test('isP9VectorAskedFor', () => {
  assert.equal(isP9VectorAskedFor('P9.Cm', ASKED_FOR), true);
  assert.equal(isP9VectorAskedFor(null, ASKED_FOR), false);
  assert.equal(isP9VectorAskedFor(undefined, ASKED_FOR), false);
  assert.equal(isP9VectorAskedFor('P9.Cm', []), false);
  assert.equal(isP9VectorAskedFor('P90.Cm', ['P90.Cm']), false);
});

// The NHS login round trip over real HTTP: the relying party (openid-client) against the stand-in
// (oidc-provider), with transactions kept in the test database.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { eq } from 'drizzle-orm';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/database.ts';
import { TestClock } from '../../../test/helpers/app.ts';
import { newNhsLoginKey, signInAtStandIn, startTestNhsLogin, TestBrowser, type TestNhsLogin } from '../../../test/helpers/nhs-login.ts';
import { nhsLoginTransactions } from '../../platform/db/schema.ts';
import { sha256Hex } from '../../platform/crypto/tokens.ts';
import { AppError } from '../../platform/http/errors.ts';
import { createNhsLoginClient, NhsLoginError, type NhsLoginFailure } from './nhs-login.client.ts';
import {
  beginNhsLogin,
  deleteOldNhsLoginTransactions,
  finishNhsLogin,
  NHS_LOGIN_TRANSACTION_TTL_MS,
  type NhsLoginDeps,
} from './nhs-login.service.ts';

let nhsLogin: TestNhsLogin;
before(async () => {
  nhsLogin = await startTestNhsLogin();
});
after(() => nhsLogin.close());

async function setUp(t: { after: (fn: () => Promise<void>) => void }, clock = new TestClock()) {
  const testDatabase: TestDatabase = await createTestDatabase();
  t.after(async () => {
    await testDatabase.database.close();
    await testDatabase.drop();
  });
  const deps: NhsLoginDeps = { config: { nhsLogin: nhsLogin.settings }, db: testDatabase.database.db, now: clock.now };
  return { deps, db: testDatabase.database.db, clock, browser: new TestBrowser() };
}

async function rejectsWith(promise: Promise<unknown>, reason: NhsLoginFailure): Promise<NhsLoginError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof NhsLoginError, `expected NhsLoginError, got ${inspect(error)}`);
    assert.equal(error.reason, reason, error.message);
    return error;
  }
  assert.fail(`expected NhsLoginError ${reason}, but it succeeded`);
}

test('a P9 identity signs in: claims from the ID token and userinfo, strong, back to returnTo', async (t) => {
  const { deps, browser } = await setUp(t);
  const begun = await beginNhsLogin(deps, { returnTo: '/m/abc?x=1' });

  const auth = begun.url;
  assert.equal(auth.origin, nhsLogin.standIn.issuer);
  assert.equal(auth.searchParams.get('response_type'), 'code');
  assert.equal(auth.searchParams.get('response_mode'), 'query');
  assert.equal(auth.searchParams.get('redirect_uri'), 'http://localhost:3000/nhs-login/callback');
  assert.equal(auth.searchParams.get('scope'), 'openid profile');
  assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(auth.searchParams.get('state'), begun.state);
  assert.ok(auth.searchParams.get('nonce'));
  assert.ok(auth.searchParams.get('code_challenge'));
  assert.deepEqual(JSON.parse(auth.searchParams.get('vtr') ?? ''), ['P9.Cp.Cd', 'P9.Cp.Ck', 'P9.Cm']);
  assert.equal(begun.expiresAt.getTime() - deps.now().getTime(), NHS_LOGIN_TRANSACTION_TTL_MS);

  const priya = nhsLogin.identity(/^Priya Shah — P9/);
  const { callbackUrl, signInPage } = await signInAtStandIn(browser, auth, { identity: priya });
  assert.match(signInPage, /Choose a test identity/);
  assert.equal(`${callbackUrl.origin}${callbackUrl.pathname}`, 'http://localhost:3000/nhs-login/callback');

  const finished = await finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams });
  assert.deepEqual(finished.identity, {
    sub: priya.sub,
    nhsNumber: '9990000018',
    birthdate: '1984-03-12',
    familyName: 'Shah',
    identityProofingLevel: 'P9',
    vot: 'P9.Cp.Cd',
    isStrong: true,
  });
  assert.equal(finished.returnTo, '/m/abc?x=1');
});

test('a P5 identity is not strong, even though its NHS number matches a patient', async (t) => {
  const { deps, browser } = await setUp(t);
  const begun = await beginNhsLogin(deps, { returnTo: '/' });
  const tomP5 = nhsLogin.identity(/^Tom Evans — P5/);
  const { callbackUrl } = await signInAtStandIn(browser, begun.url, { identity: tomP5 });
  const { identity } = await finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams });
  assert.equal(identity.identityProofingLevel, 'P5');
  assert.equal(identity.nhsNumber, '9990000026');
  assert.equal(identity.isStrong, false);
  assert.notEqual(identity.sub, nhsLogin.identity(/^Tom Evans — P9/).sub);
});

test('the identity that matches no patient comes back with its own NHS number', async (t) => {
  const { deps, browser } = await setUp(t);
  const begun = await beginNhsLogin(deps, { returnTo: '/' });
  const { callbackUrl } = await signInAtStandIn(browser, begun.url, { identity: nhsLogin.identity(/matches no patient/) });
  const { identity } = await finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams });
  assert.equal(identity.nhsNumber, '9990000069');
  assert.equal(identity.isStrong, true);
});

test('pressing Cancel at NHS login is a typed "cancelled" error, and the sign-in is used up', async (t) => {
  const { deps, browser } = await setUp(t);
  const begun = await beginNhsLogin(deps, { returnTo: '/' });
  const { callbackUrl } = await signInAtStandIn(browser, begun.url, { cancel: true });
  assert.equal(callbackUrl.searchParams.get('error'), 'access_denied');
  const error = await rejectsWith(finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams }), 'cancelled');
  assert.equal(error.providerError, 'access_denied');
  assert.equal(error.status, 400);
  assert.equal(error.publicMessage, 'You did not finish logging in with NHS login');
  await rejectsWith(finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams }), 'replayed');
});

test('any other provider error is "provider_error"', async (t) => {
  const { deps } = await setUp(t);
  const begun = await beginNhsLogin(deps, { returnTo: '/' });
  const query = new URLSearchParams({ error: 'server_error', state: begun.state, iss: nhsLogin.standIn.issuer });
  const error = await rejectsWith(finishNhsLogin(deps, { state: begun.state, callbackQuery: query }), 'provider_error');
  assert.equal(error.providerError, 'server_error');
});

test('a callback whose state is not this browser\'s is refused and does not use up the real sign-in', async (t) => {
  const { deps, browser } = await setUp(t);
  const begun = await beginNhsLogin(deps, { returnTo: '/' });
  const { callbackUrl } = await signInAtStandIn(browser, begun.url, { identity: nhsLogin.identity(/^Priya/) });

  const forged = new URLSearchParams(callbackUrl.searchParams);
  forged.set('state', 'not-the-state');
  await rejectsWith(finishNhsLogin(deps, { state: begun.state, callbackQuery: forged }), 'state_mismatch');
  // A browser that never started a sign-in, or one that started a different one.
  await rejectsWith(finishNhsLogin(deps, { state: undefined, callbackQuery: callbackUrl.searchParams }), 'unknown_transaction');
  const other = await beginNhsLogin(deps, { returnTo: '/' });
  await rejectsWith(finishNhsLogin(deps, { state: other.state, callbackQuery: callbackUrl.searchParams }), 'state_mismatch');
  // A state the server never issued, echoed in the callback too (e.g. a callback URL someone made up).
  const madeUp = new URLSearchParams(callbackUrl.searchParams);
  madeUp.set('state', 'made-up-state');
  await rejectsWith(finishNhsLogin(deps, { state: 'made-up-state', callbackQuery: madeUp }), 'unknown_transaction');

  const { identity } = await finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams });
  assert.equal(identity.nhsNumber, '9990000018');
});

test('a replayed callback (same code and state) fails the second time', async (t) => {
  const { deps, browser } = await setUp(t);
  const begun = await beginNhsLogin(deps, { returnTo: '/' });
  const { callbackUrl } = await signInAtStandIn(browser, begun.url, { identity: nhsLogin.identity(/^Grace/) });
  const first = await finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams });
  assert.equal(first.identity.familyName, 'Okafor');
  const error = await rejectsWith(finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams }), 'replayed');
  assert.equal(error.publicMessage, 'This NHS login has already been used. Start again');
});

test('two callbacks racing for one sign-in: exactly one wins', async (t) => {
  const { deps, browser } = await setUp(t);
  const begun = await beginNhsLogin(deps, { returnTo: '/' });
  const { callbackUrl } = await signInAtStandIn(browser, begun.url, { identity: nhsLogin.identity(/^Megan/) });
  const results = await Promise.allSettled([
    finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams }),
    finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams }),
  ]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const rejected = results.find((r) => r.status === 'rejected');
  assert.ok(rejected?.reason instanceof NhsLoginError);
  assert.equal(rejected.reason.reason, 'replayed');
});

test('the provider refuses the same code twice (token endpoint), even if the client were fooled', async (t) => {
  const { browser } = await setUp(t);
  const client = createNhsLoginClient(nhsLogin.settings);
  const { url, transaction } = await client.startAuthorisation({ returnTo: '/', now: new Date() });
  const { callbackUrl } = await signInAtStandIn(browser, url, { identity: nhsLogin.identity(/^Arthur/) });
  const identity = await client.completeAuthorisation(callbackUrl.searchParams, transaction);
  assert.equal(identity.familyName, 'Williams');
  const error = await rejectsWith(client.completeAuthorisation(callbackUrl.searchParams, transaction), 'token_error');
  assert.match(error.message, /invalid_grant/);
});

test('a nonce that does not match the ID token is refused, and the error carries no personal data', async (t) => {
  const { deps, db, browser } = await setUp(t);
  const begun = await beginNhsLogin(deps, { returnTo: '/' });
  await db
    .update(nhsLoginTransactions)
    .set({ nonce: 'tampered-nonce' })
    .where(eq(nhsLoginTransactions.stateHash, sha256Hex(begun.state)));
  const { callbackUrl } = await signInAtStandIn(browser, begun.url, { identity: nhsLogin.identity(/^Priya/) });
  const error = await rejectsWith(finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams }), 'nonce_mismatch');
  const everything = `${inspect(error, { depth: 10, showHidden: true })} ${JSON.stringify(error)} ${error.stack}`;
  assert.doesNotMatch(everything, /9990000018/);
  assert.doesNotMatch(everything, /1984-03-12/);
  assert.equal(error.cause, undefined);
});

test('a sign-in finished after the transaction expired is refused', async (t) => {
  const clock = new TestClock();
  const { deps, browser } = await setUp(t, clock);
  const begun = await beginNhsLogin(deps, { returnTo: '/' });
  const { callbackUrl } = await signInAtStandIn(browser, begun.url, { identity: nhsLogin.identity(/^Priya/) });
  clock.advance(NHS_LOGIN_TRANSACTION_TTL_MS);
  const error = await rejectsWith(finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams }), 'expired');
  assert.equal(error.publicMessage, 'Logging in with NHS login took too long. Start again');
});

test('a sign-in finished just inside the time limit works', async (t) => {
  const clock = new TestClock();
  const { deps, browser } = await setUp(t, clock);
  const begun = await beginNhsLogin(deps, { returnTo: '/' });
  const { callbackUrl } = await signInAtStandIn(browser, begun.url, { identity: nhsLogin.identity(/^Priya/) });
  clock.advance(NHS_LOGIN_TRANSACTION_TTL_MS - 1000);
  const { identity } = await finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams });
  assert.equal(identity.isStrong, true);
});

test('private_key_jwt signed with the wrong key is refused at the token endpoint', async (t) => {
  const { deps, browser } = await setUp(t);
  const wrongKey = newNhsLoginKey(nhsLogin.settings.privateJwk.kid);
  const impostor = createNhsLoginClient({ ...nhsLogin.settings, privateJwk: wrongKey });
  const begun = await beginNhsLogin(deps, { returnTo: '/' }, impostor);
  const { callbackUrl } = await signInAtStandIn(browser, begun.url, { identity: nhsLogin.identity(/^Priya/) });
  const error = await rejectsWith(
    finishNhsLogin(deps, { state: begun.state, callbackQuery: callbackUrl.searchParams }, impostor),
    'token_error',
  );
  assert.match(error.message, /invalid_client/);
  assert.equal(error.status, 502);
});

test('an issuer that cannot be reached is "unavailable", and a later sign-in tries discovery again', async (t) => {
  const { deps } = await setUp(t);
  const down = createNhsLoginClient({ ...nhsLogin.settings, issuer: 'http://127.0.0.1:1' }, { timeoutSeconds: 2 });
  const error = await rejectsWith(beginNhsLogin(deps, { returnTo: '/' }, down), 'unavailable');
  assert.equal(error.status, 503);
  await rejectsWith(beginNhsLogin(deps, { returnTo: '/' }, down), 'unavailable');
});

test('a client for a different issuer than the provider says it is refuses discovery', async (t) => {
  const { deps } = await setUp(t);
  const issuer = new URL(nhsLogin.standIn.issuer);
  const wrong = createNhsLoginClient({ ...nhsLogin.settings, issuer: `http://localhost:${issuer.port}` });
  await rejectsWith(beginNhsLogin(deps, { returnTo: '/' }, wrong), 'unavailable');
});

test('returnTo must be a path on this service', async (t) => {
  const { deps } = await setUp(t);
  for (const returnTo of ['https://evil.example/', '//evil.example/', '/\\evil.example', 'relative', '/a b']) {
    await assert.rejects(beginNhsLogin(deps, { returnTo }), (error: unknown) => {
      assert.ok(error instanceof AppError && !(error instanceof NhsLoginError));
      assert.equal(error.status, 400);
      return true;
    });
  }
});

test('the server keeps only a hash of the state, and the returnTo sealed with it', async (t) => {
  const { deps, db } = await setUp(t);
  const token = 'AbCdEfGhIjKlMnOpQrStUv';
  const begun = await beginNhsLogin(deps, { returnTo: `/${token}/nhs-login` });
  const rows = await db.select().from(nhsLoginTransactions);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.stateHash, sha256Hex(begun.state));
  assert.ok(!JSON.stringify(rows).includes(begun.state));
  assert.ok(!JSON.stringify(rows).includes(token), 'a link token never sits in the table');
  assert.ok(!JSON.stringify(rows).includes('nhs-login'));
  assert.equal(rows[0]!.usedAt, null);
});

test('a returnTo sealed for another sign-in does not open with this one\'s state', async (t) => {
  const { deps, db, browser } = await setUp(t);
  const mine = await beginNhsLogin(deps, { returnTo: '/portal' });
  const theirs = await beginNhsLogin(deps, { returnTo: '/AbCdEfGhIjKlMnOpQrStUv/nhs-login' });
  const [theirRow] = await db.select().from(nhsLoginTransactions).where(eq(nhsLoginTransactions.stateHash, sha256Hex(theirs.state)));
  // Someone who can write to the database moves the other sign-in's sealed returnTo onto this one.
  await db
    .update(nhsLoginTransactions)
    .set({ returnToSealed: theirRow!.returnToSealed })
    .where(eq(nhsLoginTransactions.stateHash, sha256Hex(mine.state)));
  const { callbackUrl } = await signInAtStandIn(browser, mine.url, { identity: nhsLogin.identity(/^Priya/) });
  await rejectsWith(finishNhsLogin(deps, { state: mine.state, callbackQuery: callbackUrl.searchParams }), 'unknown_transaction');
});

test('housekeeping deletes expired and used transactions older than a day, and keeps live ones', async (t) => {
  const clock = new TestClock();
  const { deps, db } = await setUp(t, clock);
  await beginNhsLogin(deps, { returnTo: '/old' });
  clock.advance(25 * 60 * 60 * 1000);
  const kept = await beginNhsLogin(deps, { returnTo: '/new' });
  assert.equal(await deleteOldNhsLoginTransactions(deps), 1);
  const left = await db.select({ stateHash: nhsLoginTransactions.stateHash }).from(nhsLoginTransactions);
  assert.deepEqual(left, [{ stateHash: sha256Hex(kept.state) }]);
});

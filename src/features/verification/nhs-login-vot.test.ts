// NHS login's vector of trust, end to end (the app and the stand-in over real HTTP): an identity that
// says P9 but whose ID token has no `vot`, or a `vot` this service did not ask for, or a P5 one, does
// not skip the security code on a link and does not open the portal.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation } from '../../../test/helpers/factories.ts';
import { get, textOf } from '../../../test/helpers/patient.ts';
import { nhsLoginThroughApp, startTestNhsLogin, type TestNhsLogin } from '../../../test/helpers/nhs-login.ts';
import { defaultStandInIdentities, type StandInIdentity } from '../nhs-login/dev/stand-in-provider.ts';
import { auditEvents, outboundSms } from '../../platform/db/schema.ts';
import { DEVICE_COOKIE, PORTAL_COOKIE, SESSION_COOKIE } from './patient-pages.ts';

const defaults = defaultStandInIdentities();
const priya = defaults.find((i) => i.label.startsWith('Priya Shah — P9'))!;

/** Priya at P9 as NHS login would describe her, but with this `vot` (null: none). */
function priyaWith(vot: string | null, name: string): StandInIdentity {
  return { ...priya, sub: `${priya.sub.slice(0, -4)}${name}`, label: `Priya Shah — ${name}`, vot };
}

const WEAK = [
  { why: 'no vot in the ID token', identity: priyaWith(null, 'novt') },
  { why: 'a vot that was not asked for', identity: priyaWith('P9.Cp', 'p9cp') },
  { why: 'a P5 vot', identity: priyaWith('P5.Cp.Cd', 'p5vt') },
];

let nhsLogin: TestNhsLogin;
before(async () => {
  nhsLogin = await startTestNhsLogin({ identities: [...defaults, ...WEAK.map((w) => w.identity)] });
});
after(() => nhsLogin.close());

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const testApp = await createTestApp({ config: nhsLogin.env });
  t.after(testApp.close);
  const conversation = await createTestConversation(testApp.services, { body: 'Your blood test results are normal.' });
  return { ...testApp, conversation };
}

for (const { why, identity } of WEAK) {
  test(`a link: P9 with ${why} does not skip the security code`, async (t) => {
    const { app, services, conversation } = await setup(t);
    const jar = new CookieJar();
    const { res } = await nhsLoginThroughApp(app, jar, `/${conversation.token}/nhs-login`, { identity });
    assert.equal(res.statusCode, 403);
    assert.match(textOf(res.body), /NHS login could not confirm your identity strongly enough/);
    assert.match(textOf(res.body), /Use your date of birth instead/);
    assert.equal(jar.get(SESSION_COOKIE), undefined, 'no session');
    assert.equal(jar.get(DEVICE_COOKIE), undefined, 'not a trusted device');
    assert.equal((await get(app, `/${conversation.token}/conversation`, jar)).statusCode, 303, 'the message does not open');
    const events = await services.db
      .select({ type: auditEvents.type, details: auditEvents.details })
      .from(auditEvents)
      .where(eq(auditEvents.conversationId, conversation.conversationId));
    assert.ok(!events.some((e) => e.type === 'nhs_login.verified'));
    const notStrong = events.find((e) => e.type === 'nhs_login.not_strong');
    assert.equal(notStrong?.details.identityProofingLevel, 'P9');
    assert.equal(notStrong?.details.vot, identity.vot ?? 'none');
    const codes = await services.db.select().from(outboundSms).where(and(eq(outboundSms.linkId, conversation.linkId), eq(outboundSms.kind, 'security_code')));
    assert.equal(codes.length, 0, 'nothing sent, nothing counted');
  });

  test(`the portal: P9 with ${why} does not sign in`, async (t) => {
    const { app } = await setup(t);
    const jar = new CookieJar();
    const { res } = await nhsLoginThroughApp(app, jar, '/portal', { identity });
    assert.equal(res.statusCode, 403);
    assert.match(textOf(res.body), /NHS login could not confirm your identity strongly enough/);
    assert.equal(jar.get(PORTAL_COOKIE), undefined);
    assert.equal((await get(app, '/portal', jar)).headers.location, '/');
  });
}

test('the same person with a vot that was asked for opens the link and the portal (so the tests above are not blind)', async (t) => {
  const { app, conversation } = await setup(t);
  const link = await nhsLoginThroughApp(app, new CookieJar(), `/${conversation.token}/nhs-login`, { identity: priya });
  assert.equal(link.res.statusCode, 303);
  assert.equal(link.res.headers.location, `/${conversation.token}/conversation`);
  const portal = await nhsLoginThroughApp(app, new CookieJar(), '/portal', { identity: priya });
  assert.equal(portal.res.statusCode, 303);
  assert.equal(portal.res.headers.location, '/portal');
});

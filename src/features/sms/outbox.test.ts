import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { createTestApp } from '../../../test/helpers/app.ts';
import { createTestOrganisation } from '../../../test/helpers/factories.ts';
import { outboundSms } from '../../platform/db/schema.ts';
import { SMS_QUEUES as QUEUES } from './sms-queues.ts';
import { enqueueSms } from './outbox.service.ts';

test('a text enqueued in a transaction that rolls back leaves no outbox row and no job', async (t) => {
  const { services, jobs, close } = await createTestApp();
  t.after(close);
  const organisation = await createTestOrganisation(services);
  let enqueuedId: string | undefined;
  await assert.rejects(
    services.db.transaction(async (tx) => {
      const row = await enqueueSms(tx, services.jobs, {
        organisationId: organisation.id,
        kind: 'security_code',
        phoneE164: '+447700900001',
        personalisation: { organisation_name: organisation.name, thing: 'message', code: '123456' },
      });
      enqueuedId = row.id;
      // Inside the transaction both exist.
      assert.equal((await tx.select().from(outboundSms).where(eq(outboundSms.id, row.id))).length, 1);
      throw new Error('the change that caused the text failed');
    }),
    /the change that caused the text failed/,
  );
  assert.ok(enqueuedId);
  assert.equal((await services.db.select().from(outboundSms).where(eq(outboundSms.id, enqueuedId))).length, 0);
  assert.equal((await jobs.boss.findJobs(QUEUES.sendSms, { data: { outboundSmsId: enqueuedId } })).length, 0);
  assert.equal((await jobs.boss.findJobs(QUEUES.sendSms)).length, 0);

  // And a committed one has both.
  const kept = await services.db.transaction((tx) =>
    enqueueSms(tx, services.jobs, {
      organisationId: organisation.id,
      kind: 'security_code',
      phoneE164: '+447700900001',
      personalisation: { organisation_name: organisation.name, thing: 'message', code: '654321' },
    }),
  );
  assert.equal((await jobs.boss.findJobs(QUEUES.sendSms, { data: { outboundSmsId: kept.id } })).length, 1);
});

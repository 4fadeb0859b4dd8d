// The SMS outbox. A text is a row written on the same transaction as the change that caused it, and a
// pg-boss job on that transaction too; the worker sends it. A rolled-back change sends nothing, and a
// crash after commit loses nothing.
import { outboundSms } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import type { Jobs } from '../../platform/jobs/jobs.ts';
import { SMS_QUEUES as QUEUES } from './sms-queues.ts';
import type { SmsKind, SmsPersonalisation } from './sms-texts.ts';

export type OutboundSms = typeof outboundSms.$inferSelect;

export interface EnqueueSms<K extends SmsKind> {
  organisationId: string;
  conversationId?: string | null;
  linkId?: string | null;
  kind: K;
  phoneE164: string;
  personalisation: SmsPersonalisation[K];
}

export async function enqueueSms<K extends SmsKind>(on: Queryable, jobs: Jobs, sms: EnqueueSms<K>): Promise<OutboundSms> {
  const [row] = await on
    .insert(outboundSms)
    .values({
      organisationId: sms.organisationId,
      conversationId: sms.conversationId ?? null,
      linkId: sms.linkId ?? null,
      kind: sms.kind,
      phoneE164: sms.phoneE164,
      personalisation: { ...sms.personalisation },
    })
    .returning();
  await jobs.send(QUEUES.sendSms, { outboundSmsId: row!.id }, on);
  return row!;
}

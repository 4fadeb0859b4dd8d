// The development transport: the text is rendered exactly as the Notify template would render it and
// kept in dev_phone_texts for the /dev/phone page. Never used in production (config refuses it there).
import { devPhoneTexts } from '../../../platform/db/schema.ts';
import type { Queryable } from '../../../platform/db/client.ts';
import { renderSms } from '../sms-texts.ts';
import type { SmsSendRequest, SmsSendResult, SmsTransport } from './sms-transport.ts';

export function createDevelopmentTransport(db: Queryable): SmsTransport {
  return {
    name: 'development',
    async send(request: SmsSendRequest): Promise<SmsSendResult> {
      const body = renderSms(request.kind, request.personalisation);
      // One stored text per outbox row: a retried job does not show the text twice.
      await db
        .insert(devPhoneTexts)
        // created_at is the database's clock: the time the phone "received" it, in real order.
        .values({ outboundSmsId: request.reference, phoneE164: request.phoneE164, body })
        .onConflictDoNothing({ target: devPhoneTexts.outboundSmsId });
      return { providerId: `dev-${request.reference}` };
    },
  };
}

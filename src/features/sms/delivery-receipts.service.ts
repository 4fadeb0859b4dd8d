// Delivery receipts from GOV.UK Notify: after a text is sent, Notify calls us back with what happened
// on the phone network. The receipt's `reference` is the outbox id we sent with the text.
import { timingSafeEqual, createHash } from 'node:crypto';
import { z } from 'zod';
import type { Services } from '../../services.ts';
import { applyDeliveryReceipt, type FINAL_SMS_STATUSES, type ReceiptOutcome } from './outbox.repository.ts';

const nullableText = z.string().nullable().optional();

/** The callback body (Notify's documented fields). Extra fields are allowed: Notify adds fields over time. */
export const notifyReceiptSchema = z.looseObject({
  id: z.string().min(1),
  reference: z.string().nullable(),
  to: z.string(),
  status: z.string().min(1),
  created_at: z.string(),
  completed_at: nullableText,
  sent_at: nullableText,
  notification_type: z.string(),
});

export type NotifyReceipt = z.output<typeof notifyReceiptSchema>;

const RECEIPT_STATUSES: Record<string, (typeof FINAL_SMS_STATUSES)[number]> = {
  delivered: 'delivered',
  'permanent-failure': 'permanent_failure',
  'temporary-failure': 'temporary_failure',
  'technical-failure': 'technical_failure',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Compare the callback's bearer token with ours in constant time (hashing first equalises lengths). */
export function callbackTokenMatches(authorization: string | undefined, expected: string): boolean {
  const match = /^Bearer (.+)$/.exec(authorization ?? '');
  const given = createHash('sha256').update(match?.[1] ?? '').digest();
  const wanted = createHash('sha256').update(expected).digest();
  return timingSafeEqual(given, wanted) && match !== null;
}

export type ReceiptResult = ReceiptOutcome | 'ignored-status' | 'ignored-type';

/**
 * Record a receipt. Unknown references, other notification types and statuses that are not final
 * ('sending', 'pending', 'sent') are accepted and ignored, so Notify does not retry them for ever.
 */
export async function recordNotifyReceipt(services: Services, receipt: NotifyReceipt): Promise<ReceiptResult> {
  if (receipt.notification_type !== 'sms') return 'ignored-type';
  const status = RECEIPT_STATUSES[receipt.status];
  if (!status) return 'ignored-status';
  if (!receipt.reference || !UUID.test(receipt.reference)) return 'unknown';
  return applyDeliveryReceipt(services.db, receipt.reference, status, services.now());
}

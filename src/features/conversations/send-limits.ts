// The per-organisation daily send limit (issue 10, item 13: one API key sent 1,129 texts in four
// minutes). Each new conversation is one text with a link; an organisation may start at most
// ORGANISATION_DAILY_SEND_LIMIT in a UK day, whoever sends them (staff or API keys). It is counted
// from the conversations themselves, in the send transaction, after a lock per organisation: exact
// across instances and parallel requests. Operators hear about it once a day, at 80% and at the limit.
import type { Services } from '../../services.ts';
import type { Tx } from '../../platform/db/client.ts';
import { RateLimited } from '../../platform/errors.ts';
import { ukDayBounds } from '../../platform/uk-day.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { countOrganisationConversations, lockOrganisationSends } from './conversations.repository.ts';

/** The share of the limit at which operators are warned (once a day, by the send that reaches it). */
export const SEND_LIMIT_WARNING_SHARE = 0.8;

/** The organisation has started as many conversations today as it may; more after `resetsAt`. */
export class DailySendLimitReached extends RateLimited {
  readonly limit: number;
  readonly resetsAt: Date;
  constructor(limit: number, resetsAt: Date, now: Date) {
    super(
      `Your organisation has sent ${limit.toLocaleString('en-GB')} messages today, the most it can send in a day. You can send more from midnight (UK time): ${resetsAt.toISOString()}.`,
      Math.max(1, Math.ceil((resetsAt.getTime() - now.getTime()) / 1000)),
    );
    this.limit = limit;
    this.resetsAt = resetsAt;
  }
}

/** What the send that took a place should tell operators, once its transaction has committed. */
export type SendLimitNotice = { kind: 'warning' | 'reached'; sentToday: number; limit: number } | undefined;

/**
 * Takes one of today's sends for the organisation, on the send's transaction (call before writing the
 * conversation): throws DailySendLimitReached when none is left. The send that reaches 80%, and the
 * one that reaches the limit, are audited here and returned for the caller to log after commit.
 */
export async function takeDailySend(
  services: Services,
  tx: Tx,
  input: { organisationId: string; actor: AuditActor; now: Date },
): Promise<SendLimitNotice> {
  const limit = services.config.organisationDailySendLimit;
  const { start, end } = ukDayBounds(input.now);
  await lockOrganisationSends(tx, input.organisationId);
  const before = await countOrganisationConversations(tx, input.organisationId, start, end);
  if (before >= limit) throw new DailySendLimitReached(limit, end, input.now);
  const sentToday = before + 1;
  const kind = sentToday === limit ? 'reached' : sentToday === Math.ceil(limit * SEND_LIMIT_WARNING_SHARE) ? 'warning' : undefined;
  if (!kind) return undefined;
  await recordAudit(tx, {
    type: kind === 'reached' ? 'organisation.send_limit_reached' : 'organisation.send_limit_warning',
    actor: input.actor,
    organisationId: input.organisationId,
    details: { sentToday, limit, day: start.toISOString(), resetsAt: end.toISOString() },
  });
  return { kind, sentToday, limit };
}

/**
 * For texts that are not new conversations (a staff reply in a conversation): on the send's transaction,
 * throws DailySendLimitReached once the organisation's day is used up, and otherwise takes nothing.
 * Like reminders, such texts do not count towards the limit (it counts conversations), but none goes
 * out on a day the organisation has been stopped.
 */
export async function ensureDailySendLeft(services: Services, tx: Tx, input: { organisationId: string; now: Date }): Promise<void> {
  const limit = services.config.organisationDailySendLimit;
  const { start, end } = ukDayBounds(input.now);
  await lockOrganisationSends(tx, input.organisationId);
  const sentToday = await countOrganisationConversations(tx, input.organisationId, start, end);
  if (sentToday >= limit) throw new DailySendLimitReached(limit, end, input.now);
}

/** The operators' log line for a notice (organisation id only: no patient data). */
export function logSendLimitNotice(services: Services, organisationId: string, notice: SendLimitNotice): void {
  if (!notice) return;
  const fields = { organisationId, sentToday: notice.sentToday, limit: notice.limit, setting: 'ORGANISATION_DAILY_SEND_LIMIT' };
  if (notice.kind === 'warning') {
    services.log.warn(fields, `organisation has sent ${Math.round(SEND_LIMIT_WARNING_SHARE * 100)}% of its daily send limit`);
  } else {
    services.log.warn(fields, 'organisation has reached its daily send limit: further sends are refused until midnight (UK time)');
  }
}

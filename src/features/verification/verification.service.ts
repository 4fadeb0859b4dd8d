// The patient's way in: open a link, give the date of birth, and on a device the link does not know
// yet, a security code sent to the phone the link was sent to. Each function returns what happened;
// the routes decide which page says so. Each decision is counted for /metrics beside its audit event
// (a count, never who), inside the same transaction: one rolled back (rare) is still counted.
import { z } from 'zod';
import type { Services } from '../../services.ts';
import type { Tx } from '../../platform/db/client.ts';
import type { Metrics } from '../../platform/metrics/metrics.ts';
import type { NhsLoginIdentity } from '../nhs-login/nhs-login.client.ts';
import { constantTimeEqualHex, newSecret, sha256Hex } from '../../platform/crypto/tokens.ts';
import { parseDateOfBirth, type DateParts, type DateProblem } from '../patients/identifiers.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import {
  CODE_FAILURES_IN_A_ROW_LIMIT,
  DOB_FAILURES_IN_A_ROW_LIMIT,
  DOB_FAILURES_TOTAL_LIMIT,
  DOB_LOCK_MINUTES,
  getLink,
  linkState,
  lockLinkForCodeCheck,
  moveDeviceTrust,
  recordCodeFailure,
  recordDobFailure,
  replaceTrustedDevice,
  resetCodeFailures,
  resetDobFailuresInARow,
  trustFirstDevice,
  type Link,
  type LinkState,
  type LockedLinkState,
} from '../links/links.service.ts';
import {
  auditSubject,
  checkPatientAccess,
  lookUpLink,
  patientActor,
  type AccessProblem,
  type LinkContext,
} from './patient-access.service.ts';
import { createPatientSession, endOtherSessionsForLink, endPatientSession } from './patient-sessions.service.ts';
import {
  checkCodeLimits,
  checkSecurityCode,
  hasLiveCode,
  lockPhoneForCodes,
  sendSecurityCode,
  type CodeLimit,
} from './security-codes.service.ts';

type LinkProblem =
  | { kind: 'rate_limited'; retryAt: Date }
  | { kind: 'unknown' }
  | { kind: 'gone'; context: LinkContext; reason: 'expired' | 'revoked' }
  | { kind: 'locked'; context: LinkContext; lock: LockedLinkState };

/** Why a found link takes no new identity check (date of birth, NHS login): gone, or locked. */
function refusesNewChecks(context: LinkContext, state: LinkState): Extract<LinkProblem, { kind: 'gone' | 'locked' }> | undefined {
  if (state.state === 'expired' || state.state === 'revoked') return { kind: 'gone', context, reason: state.state };
  if (state.state === 'locked' || state.state === 'locked-permanently') return { kind: 'locked', context, lock: state };
  return undefined;
}

/** The link was locked by a request that got there first (between our read and our write): that lock. */
async function lockedMeanwhile(tx: Tx, context: LinkContext, now: Date): Promise<Extract<LinkProblem, { kind: 'locked' }>> {
  const fresh = (await getLink(tx, context.link.id)) ?? context.link;
  const state = linkState(fresh, now);
  const ctx = { ...context, link: fresh };
  if (state.state === 'locked' || state.state === 'locked-permanently') return { kind: 'locked', context: ctx, lock: state };
  return { kind: 'locked', context: ctx, lock: { state: 'locked', until: new Date(now.getTime() + DOB_LOCK_MINUTES * 60_000) } };
}

/**
 * Wrong dates of birth (or NHS logins for someone else) still allowed before the link locks: the run
 * in a row locks it for a while, the total for good, whichever comes first.
 */
export function checksLeftBeforeLock(link: Pick<Link, 'dobFailuresInARow' | 'dobFailuresTotal'>): { left: number; permanently: boolean } {
  const inARow = DOB_FAILURES_IN_A_ROW_LIMIT - link.dobFailuresInARow;
  const total = DOB_FAILURES_TOTAL_LIMIT - link.dobFailuresTotal;
  return total <= inARow ? { left: total, permanently: true } : { left: inARow, permanently: false };
}

/** A new device cookie value: 256 random bits. Only its SHA-256 is stored against links. */
export function newDeviceToken(): string {
  return newSecret(32);
}

/** The last three digits of the number the link was sent to: enough to recognise, too few to use. */
export function phoneEnding(phoneE164: string): string {
  return phoneE164.slice(-3);
}

// ---------------------------------------------------------------------------------------------------
// GET /:token — never sends a code and never changes trust; it only records that the link was opened.

export type OpenLinkResult = LinkProblem | { kind: 'ask_date_of_birth'; context: LinkContext };

/** The state as the audit trail has always named it ('open' for a link that works). */
function auditedState(state: LinkState): string {
  if (state.state === 'active') return 'open';
  return state.state === 'locked-permanently' ? 'locked' : state.state;
}

export async function openLink(services: Services, input: { token: string; ip: string }): Promise<OpenLinkResult> {
  const lookup = await lookUpLink(services, input.token, input.ip);
  if (lookup.kind !== 'found') return lookup;
  const { context, state } = lookup;
  await recordAudit(services.db, {
    type: 'link.opened',
    actor: patientActor(context, input.ip),
    ...auditSubject(context),
    details: { status: auditedState(state) },
  });
  return refusesNewChecks(context, state) ?? { kind: 'ask_date_of_birth', context };
}

// ---------------------------------------------------------------------------------------------------
// POST /:token — the date of birth.

export type DateOfBirthResult =
  | LinkProblem
  | { kind: 'invalid'; context: LinkContext; problem: DateProblem }
  /** Wrong; `checksLeft` more wrong answers lock the link (for a while, or for good). */
  | { kind: 'wrong'; context: LinkContext; checksLeft: { left: number; permanently: boolean } }
  /** Right, on the trusted device or the first device ever: what is behind the link opens. */
  | { kind: 'verified'; context: LinkContext; sessionToken: string; deviceToken?: string }
  /**
   * Right, on another device: a code is on its way (or a recent one is still live). lostTrust: this
   * browser was the trusted device until the link was opened on another one.
   */
  | { kind: 'code_needed'; context: LinkContext; sessionToken: string; lostTrust: boolean }
  /** Right, on another device, but no code can be sent now and none is live. */
  | { kind: 'code_limit'; context: LinkContext; sessionToken: string; limit: Extract<CodeLimit, { ok: false }>; lostTrust: boolean };

export async function submitDateOfBirth(
  services: Services,
  input: { token: string; ip: string; dateOfBirth: Partial<DateParts>; deviceToken?: string; sessionToken?: string },
): Promise<DateOfBirthResult> {
  const lookup = await lookUpLink(services, input.token, input.ip);
  if (lookup.kind !== 'found') return lookup;
  const { context, state } = lookup;
  const refused = refusesNewChecks(context, state);
  if (refused) return refused;

  const now = services.now();
  const parsed = parseDateOfBirth(input.dateOfBirth, now);
  // A date that is not a date is a typing slip, not a guess: it is not counted.
  if (!parsed.ok) return { kind: 'invalid', context, problem: parsed.problem };
  const actor = patientActor(context, input.ip);
  const subject = auditSubject(context);

  if (parsed.iso !== context.patient.dateOfBirth) {
    return services.db.transaction((tx) => countFailedCheck(tx, services.metrics, context, actor, now, 'link.dob_wrong'));
  }

  return services.db.transaction(async (tx): Promise<DateOfBirthResult> => {
    const link = await resetDobFailuresInARow(tx, context.link.id, now);
    if (!link) return lockedMeanwhile(tx, context, now);
    const ctx = { ...context, link };
    await recordAudit(tx, { type: 'link.dob_right', actor, ...subject });
    services.metrics.verification('date_of_birth', 'right');
    await endPatientSession(tx, input.sessionToken);

    const deviceHash = input.deviceToken ? sha256Hex(input.deviceToken) : undefined;
    if (link.trustedDeviceHash && deviceHash && constantTimeEqualHex(deviceHash, link.trustedDeviceHash)) {
      const { token } = await createPatientSession(tx, { linkId: link.id, state: 'verified', now });
      return { kind: 'verified', context: ctx, sessionToken: token };
    }
    if (!link.trustedDeviceHash) {
      const deviceToken = newDeviceToken();
      const newHash = sha256Hex(deviceToken);
      if (await trustFirstDevice(tx, link.id, newHash, now)) {
        if (deviceHash) await moveDeviceTrust(tx, deviceHash, newHash);
        await recordAudit(tx, { type: 'device.trusted', actor, ...subject, details: { how: 'first_device' } });
        const { token } = await createPatientSession(tx, { linkId: link.id, state: 'verified', now });
        return { kind: 'verified', context: ctx, sessionToken: token, deviceToken };
      }
      // Another device became the first a moment ago: this one needs a code like any other.
    }

    const lostTrust = Boolean(deviceHash && link.previousTrustedDeviceHash && constantTimeEqualHex(deviceHash, link.previousTrustedDeviceHash));
    const { token } = await createPatientSession(tx, { linkId: link.id, state: 'awaiting_code', now });
    const sent = await sendCodeIfAllowed(services, tx, ctx, input.ip);
    if (sent.ok || (await hasLiveCode(tx, link.id, now))) return { kind: 'code_needed', context: ctx, sessionToken: token, lostTrust };
    return { kind: 'code_limit', context: ctx, sessionToken: token, limit: sent, lostTrust };
  });
}

/**
 * One failed check of who is opening the link (a wrong date of birth, or an NHS login for someone
 * else), counted by the link's one atomic statement so the same lock rules apply, and audited.
 */
async function countFailedCheck(
  tx: Tx,
  metrics: Metrics,
  context: LinkContext,
  actor: AuditActor,
  now: Date,
  type: 'link.dob_wrong' | 'nhs_login.mismatch',
): Promise<Extract<DateOfBirthResult, { kind: 'wrong' | 'locked' }>> {
  const subject = auditSubject(context);
  const updated = await recordDobFailure(tx, context.link.id, now);
  if (!updated) {
    // Locked by a concurrent request between our read and this statement.
    const fresh = (await getLink(tx, context.link.id))!;
    const st = linkState(fresh, now);
    const ctx = { ...context, link: fresh };
    if (st.state === 'locked' || st.state === 'locked-permanently') return { kind: 'locked', context: ctx, lock: st };
    return { kind: 'wrong', context: ctx, checksLeft: checksLeftBeforeLock(fresh) };
  }
  await recordAudit(tx, { type, actor, ...subject, details: { failuresTotal: updated.dobFailuresTotal } });
  const check = type === 'link.dob_wrong' ? 'date_of_birth' : 'nhs_login';
  metrics.verification(check, type === 'link.dob_wrong' ? 'wrong' : 'mismatch');
  const st = linkState(updated, now);
  if (st.state === 'locked' || st.state === 'locked-permanently') {
    metrics.verification(check, 'locked');
    await recordAudit(tx, {
      type: 'link.locked',
      actor,
      ...subject,
      details:
        st.state === 'locked-permanently'
          ? { reason: 'too_many_wrong_dates_of_birth_in_total', permanently: true }
          : { reason: 'too_many_wrong_dates_of_birth_in_a_row', until: st.until.toISOString() },
    });
    return { kind: 'locked', context: { ...context, link: updated }, lock: st };
  }
  return { kind: 'wrong', context: { ...context, link: updated }, checksLeft: checksLeftBeforeLock(updated) };
}

/**
 * This browser proved itself strongly (a right security code, or NHS login at P9): a new verified
 * session, this device replaces the trusted one, every other browser's session for the link ends, so
 * the old device must prove itself again, and a run of wrong security codes ends. The caller audits how.
 */
async function trustThisDevice(
  tx: Tx,
  context: LinkContext,
  input: { sessionToken?: string; deviceToken?: string },
  now: Date,
): Promise<{ sessionToken: string; deviceToken: string }> {
  await endPatientSession(tx, input.sessionToken);
  const { token, session } = await createPatientSession(tx, { linkId: context.link.id, state: 'verified', now });
  const deviceToken = newDeviceToken();
  const newHash = sha256Hex(deviceToken);
  await replaceTrustedDevice(tx, context.link.id, newHash, now);
  await resetCodeFailures(tx, context.link.id, now);
  if (input.deviceToken) await moveDeviceTrust(tx, sha256Hex(input.deviceToken), newHash);
  await endOtherSessionsForLink(tx, context.link.id, session.tokenHash);
  return { sessionToken: token, deviceToken };
}

async function sendCodeIfAllowed(services: Services, tx: Tx, context: LinkContext, ip: string): Promise<CodeLimit> {
  const now = services.now();
  await lockPhoneForCodes(tx, context.link.phoneE164);
  const limit = await checkCodeLimits(tx, context.link, now);
  if (!limit.ok) return limit;
  await sendSecurityCode(tx, services.jobs, {
    link: context.link,
    organisationId: context.organisation.id,
    organisationName: context.organisation.name,
    thing: services.itemKinds.words(context.conversation.kind).thing,
    conversationId: context.conversation.id,
    hmacKey: services.config.codeHmacKeys[0]!,
    now,
  });
  await recordAudit(tx, { type: 'code.sent', actor: patientActor(context, ip), ...auditSubject(context) });
  services.metrics.verification('security_code', 'sent');
  return limit;
}

// ---------------------------------------------------------------------------------------------------
// GET /:token/code, POST /:token/code, POST /:token/code/resend.

export async function showCodePage(
  services: Services,
  input: { token: string; ip: string; sessionToken?: string },
): Promise<AccessProblem | { kind: 'ok'; context: LinkContext; phoneEnding: string }> {
  const access = await checkPatientAccess(services, { ...input, need: 'awaiting_code' });
  if (access.kind !== 'ok') return access;
  return { kind: 'ok', context: access.context, phoneEnding: phoneEnding(access.context.link.phoneE164) };
}

export const securityCodeSchema = z
  .string()
  .transform((v) => v.replace(/[\s-]/g, ''))
  .pipe(z.string().min(1, 'Enter the security code').regex(/^\d{6}$/, 'The security code must be 6 numbers'));

export type CodeResult =
  | AccessProblem
  | { kind: 'invalid'; context: LinkContext; phoneEnding: string; message: string }
  /**
   * Wrong; `triesLeft` more wrong codes and this code stops working, or (linkLocksFirst) the link
   * locks, whichever comes first.
   */
  | { kind: 'wrong'; context: LinkContext; phoneEnding: string; triesLeft: number; linkLocksFirst: boolean }
  /** No code to check (burnedNow: this wrong try was its last); linkTriesLeft: wrong codes before the link locks. */
  | { kind: 'no_code'; context: LinkContext; phoneEnding: string; burnedNow: boolean; linkTriesLeft: number }
  | { kind: 'verified'; context: LinkContext; sessionToken: string; deviceToken: string };

/** Wrong security codes still allowed before the link locks until staff re-send it. */
function codeTriesLeftBeforeLock(link: Pick<Link, 'codeFailuresInARow'>): number {
  return Math.max(0, CODE_FAILURES_IN_A_ROW_LIMIT - link.codeFailuresInARow);
}

/**
 * A wrong security code, counted on the link (after the code's own count). The try that reaches the
 * limit locks the link for good and is answered with the locked page.
 */
async function countWrongCode(
  tx: Tx,
  metrics: Metrics,
  context: LinkContext,
  actor: AuditActor,
  now: Date,
): Promise<{ kind: 'counted'; link: Link } | { kind: 'locked'; context: LinkContext; lock: LockedLinkState }> {
  const subject = auditSubject(context);
  const link = await recordCodeFailure(tx, context.link.id, now);
  if (!link) return lockedMeanwhile(tx, context, now);
  const state = linkState(link, now);
  if (state.state !== 'locked-permanently') return { kind: 'counted', link };
  metrics.verification('security_code', 'locked');
  await recordAudit(tx, {
    type: 'link.locked',
    actor,
    ...subject,
    details: { reason: 'too_many_wrong_security_codes_in_a_row', permanently: true, codeFailuresInARow: link.codeFailuresInARow },
  });
  return { kind: 'locked', context: { ...context, link }, lock: state };
}

export async function submitSecurityCode(
  services: Services,
  input: { token: string; ip: string; sessionToken?: string; deviceToken?: string; code: string },
): Promise<CodeResult> {
  const access = await checkPatientAccess(services, { ...input, need: 'awaiting_code' });
  if (access.kind !== 'ok') return access;
  const { context } = access;
  const ending = phoneEnding(context.link.phoneE164);
  const parsed = securityCodeSchema.safeParse(input.code);
  if (!parsed.success) {
    return { kind: 'invalid', context, phoneEnding: ending, message: parsed.error.issues[0]!.message };
  }
  const now = services.now();
  const actor = patientActor(context, input.ip);
  const subject = auditSubject(context);
  return services.db.transaction(async (tx): Promise<CodeResult> => {
    // Judged one at a time per link, on its fresh row: a lock set by the request before this one holds.
    const link = await lockLinkForCodeCheck(tx, context.link.id);
    const state = link ? linkState(link, now) : undefined;
    if (!link || !state) return { kind: 'unknown' };
    if (state.state === 'expired' || state.state === 'revoked') return { kind: 'gone', context: { ...context, link }, reason: state.state };
    if (state.state === 'locked' || state.state === 'locked-permanently') return { kind: 'locked', context: { ...context, link }, lock: state };
    const check = await checkSecurityCode(tx, services.config.codeHmacKeys, context.link.id, parsed.data, now);
    switch (check.kind) {
      case 'no_code':
        await recordAudit(tx, { type: 'code.wrong', actor, ...subject, details: { reason: 'no_live_code' } });
        services.metrics.verification('security_code', 'wrong');
        return { kind: 'no_code', context, phoneEnding: ending, burnedNow: false, linkTriesLeft: codeTriesLeftBeforeLock(link) };
      case 'burned': {
        await recordAudit(tx, { type: 'code.wrong', actor, ...subject, details: { triesLeft: 0 } });
        await recordAudit(tx, { type: 'code.burned', actor, ...subject, details: { reason: 'too_many_wrong_tries' } });
        services.metrics.verification('security_code', 'wrong');
        services.metrics.verification('security_code', 'burned');
        const counted = await countWrongCode(tx, services.metrics, context, actor, now);
        if (counted.kind === 'locked') return counted;
        return { kind: 'no_code', context, phoneEnding: ending, burnedNow: true, linkTriesLeft: codeTriesLeftBeforeLock(counted.link) };
      }
      case 'wrong': {
        await recordAudit(tx, { type: 'code.wrong', actor, ...subject, details: { triesLeft: check.triesLeft } });
        services.metrics.verification('security_code', 'wrong');
        const counted = await countWrongCode(tx, services.metrics, context, actor, now);
        if (counted.kind === 'locked') return counted;
        const linkTriesLeft = codeTriesLeftBeforeLock(counted.link);
        return {
          kind: 'wrong',
          context,
          phoneEnding: ending,
          triesLeft: Math.min(check.triesLeft, linkTriesLeft),
          linkLocksFirst: linkTriesLeft <= check.triesLeft,
        };
      }
      case 'right': {
        const trusted = await trustThisDevice(tx, context, input, now);
        await recordAudit(tx, { type: 'code.right', actor, ...subject });
        services.metrics.verification('security_code', 'right');
        await recordAudit(tx, { type: 'device.trusted', actor, ...subject, details: { how: 'security_code' } });
        return { kind: 'verified', context, ...trusted };
      }
    }
  });
}

export type ResendResult =
  | AccessProblem
  | { kind: 'sent'; context: LinkContext }
  | { kind: 'code_limit'; context: LinkContext; limit: Extract<CodeLimit, { ok: false }> };

export async function requestNewCode(
  services: Services,
  input: { token: string; ip: string; sessionToken?: string },
): Promise<ResendResult> {
  const access = await checkPatientAccess(services, { ...input, need: 'awaiting_code' });
  if (access.kind !== 'ok') return access;
  const { context } = access;
  return services.db.transaction(async (tx): Promise<ResendResult> => {
    const sent = await sendCodeIfAllowed(services, tx, context, input.ip);
    return sent.ok ? { kind: 'sent', context } : { kind: 'code_limit', context, limit: sent };
  });
}

// ---------------------------------------------------------------------------------------------------
// NHS login from a link (the callback of /nhs-login/start?returnTo=/:token/nhs-login). Only P9, with a
// vector of trust that was asked for, may stand in for the security code (DESIGN.md §3; isStrong); an
// NHS number that is not the patient's counts like a wrong date of birth.

export type NhsLoginLinkResult =
  | LinkProblem
  /** NHS login did not prove who this is strongly enough (below P9): use the date of birth instead. */
  | { kind: 'not_strong'; context: LinkContext }
  /** NHS login is someone other than the patient the message was sent to. */
  | { kind: 'mismatch'; context: LinkContext; checksLeft: { left: number; permanently: boolean } }
  | { kind: 'verified'; context: LinkContext; sessionToken: string; deviceToken: string };

export async function verifyLinkWithNhsLogin(
  services: Services,
  input: { token: string; ip: string; identity: NhsLoginIdentity; deviceToken?: string; sessionToken?: string },
): Promise<NhsLoginLinkResult> {
  const lookup = await lookUpLink(services, input.token, input.ip);
  if (lookup.kind !== 'found') return lookup;
  const { context, state } = lookup;
  const refused = refusesNewChecks(context, state);
  if (refused) return refused;

  const now = services.now();
  const actor = patientActor(context, input.ip);
  const subject = auditSubject(context);
  const level = input.identity.identityProofingLevel ?? 'none';
  if (!input.identity.isStrong) {
    // The vector of trust says why (no vot, or one not asked for); it identifies no one.
    await recordAudit(services.db, { type: 'nhs_login.not_strong', actor, ...subject, details: { identityProofingLevel: level, vot: input.identity.vot ?? 'none' } });
    services.metrics.verification('nhs_login', 'not_strong');
    return { kind: 'not_strong', context };
  }
  if (input.identity.nhsNumber !== context.patient.nhsNumber) {
    return services.db.transaction(async (tx): Promise<NhsLoginLinkResult> => {
      const failed = await countFailedCheck(tx, services.metrics, context, actor, now, 'nhs_login.mismatch');
      return failed.kind === 'locked' ? failed : { kind: 'mismatch', context: failed.context, checksLeft: failed.checksLeft };
    });
  }
  return services.db.transaction(async (tx): Promise<NhsLoginLinkResult> => {
    // A successful check ends a run of wrong dates of birth, and refuses a link locked meanwhile.
    const link = await resetDobFailuresInARow(tx, context.link.id, now);
    if (!link) return lockedMeanwhile(tx, context, now);
    const ctx = { ...context, link };
    const trusted = await trustThisDevice(tx, ctx, input, now);
    await recordAudit(tx, { type: 'nhs_login.verified', actor, ...subject, details: { identityProofingLevel: level } });
    services.metrics.verification('nhs_login', 'verified');
    await recordAudit(tx, { type: 'device.trusted', actor, ...subject, details: { how: 'nhs_login' } });
    return { kind: 'verified', context: ctx, ...trusted };
  });
}

// The seam of DESIGN.md §2: "may this browser open this conversation now?", for a link. It knows nothing
// of what the conversation holds beyond the name of its kind (for the words on its pages); the guards in
// patient-access.ts turn a yes into the PatientAccess everything behind a link is given.
import { eq, sql } from 'drizzle-orm';
import { conversations, organisations, patients, links } from '../../platform/db/schema.ts';
import type { Db } from '../../platform/db/client.ts';
import { LINK_TOKEN_PATTERN, sha256Hex } from '../../platform/crypto/tokens.ts';
import type { Services } from '../../services.ts';
import { linkState, type Link, type LinkState, type LockedLinkState } from '../links/links.service.ts';
import type { AuditActor } from '../audit/audit.service.ts';
import { checkPatientSession, type PatientSession, type PatientSessionState } from './patient-sessions.service.ts';

/**
 * Look-ups of unknown links per IP address per minute (DESIGN.md §3: guessing is hopeless, and still
 * limited). Only misses of well-formed tokens count, and the limit only ever answers for tokens that
 * do not exist: many patients share one address (hospital Wi-Fi, mobile networks put thousands behind
 * one), and a real link gives a guesser nothing its 128 bits did not already, so a link that exists is
 * never refused. Paths that cannot be a token (favicon.ico, robots.txt, a mistyped word) are no guess
 * and do not count either.
 */
export const LINK_LOOKUPS_PER_MINUTE = 60;

export interface LinkContext {
  link: Link;
  /** kind: the item kind behind the link, named only to ask the registry for its words. */
  conversation: { id: string; organisationId: string; patientId: string; kind: string; createdAt: Date };
  organisation: { id: string; name: string; contactPhone: string };
  /** Only what verification needs (date of birth; NHS number for NHS login); never shown on a page. */
  patient: { id: string; dateOfBirth: string; nhsNumber: string };
}

export type LinkLookup =
  | { kind: 'rate_limited'; retryAt: Date }
  | { kind: 'unknown' }
  | { kind: 'found'; context: LinkContext; state: LinkState };

// The link look-up runs on every patient request. Prepared once per database (named, so PostgreSQL
// parses and plans the four-table join once per connection rather than on every request: ~0.13 ms of
// the database's CPU each time on the benchmark machine).
const linkContextQueries = new WeakMap<Db, ReturnType<typeof prepareLinkContextQuery>>();

function prepareLinkContextQuery(db: Db) {
  return db
    .select({
      link: links,
      conversation: {
        id: conversations.id,
        organisationId: conversations.organisationId,
        patientId: conversations.patientId,
        kind: conversations.kind,
        createdAt: conversations.createdAt,
      },
      organisation: { id: organisations.id, name: organisations.name, contactPhone: organisations.contactPhone },
      patient: { id: patients.id, dateOfBirth: patients.dateOfBirth, nhsNumber: patients.nhsNumber },
    })
    .from(links)
    .innerJoin(conversations, eq(conversations.id, links.conversationId))
    .innerJoin(organisations, eq(organisations.id, conversations.organisationId))
    .innerJoin(patients, eq(patients.id, conversations.patientId))
    .where(eq(links.tokenHash, sql.placeholder('tokenHash')))
    .prepare('dovecote_link_context');
}

async function loadLinkContext(db: Db, token: string): Promise<LinkContext | undefined> {
  let query = linkContextQueries.get(db);
  if (!query) linkContextQueries.set(db, (query = prepareLinkContextQuery(db)));
  const [row] = await query.execute({ tokenHash: sha256Hex(token) });
  return row;
}

/**
 * Finds the link a token opens. A link that exists is always found, whatever its address has done
 * (see LINK_LOOKUPS_PER_MINUTE). A well-formed token that opens nothing counts as a miss for the
 * address, and once the address is over the limit its misses are answered "too many" rather than
 * "unknown". A path that cannot be a token is unknown without a database look-up and is not counted.
 */
export async function lookUpLink(services: Services, token: string, ip: string): Promise<LinkLookup> {
  if (!LINK_TOKEN_PATTERN.test(token)) return { kind: 'unknown' };
  const context = await loadLinkContext(services.db, token);
  if (context) return { kind: 'found', context, state: linkState(context.link, services.now()) };
  const miss = await services.rateLimiter.hit(`link-lookup:${ip}`, LINK_LOOKUPS_PER_MINUTE, 60);
  if (miss.allowed) return { kind: 'unknown' };
  return { kind: 'rate_limited', retryAt: new Date(services.now().getTime() + miss.retryAfterSeconds * 1000) };
}

export function patientActor(context: LinkContext, ip: string | null): AuditActor {
  return { type: 'patient_link', id: context.link.id, ip };
}

/** The audit fields every patient event carries. */
export function auditSubject(context: LinkContext) {
  return {
    organisationId: context.organisation.id,
    patientId: context.patient.id,
    conversationId: context.conversation.id,
    linkId: context.link.id,
  };
}

export type AccessProblem =
  | { kind: 'rate_limited'; retryAt: Date }
  | { kind: 'unknown' }
  | { kind: 'gone'; context: LinkContext; reason: 'expired' | 'revoked' }
  /** The link is locked and the page is a check of who this is (the security code): no more tries. */
  | { kind: 'locked'; context: LinkContext; lock: LockedLinkState }
  /** No session for this link: start again at the date of birth. */
  | { kind: 'no_session'; context: LinkContext }
  /** A session for this link timed out: start again, and say why. */
  | { kind: 'session_expired'; context: LinkContext }
  /** The session is in another state (awaiting a code, or already verified). */
  | { kind: 'wrong_state'; context: LinkContext; state: PatientSessionState };

export type PatientAccess = { kind: 'ok'; context: LinkContext; session: PatientSession } | AccessProblem;

/**
 * May the browser holding this session cookie go on with this link? The link must be live, and the
 * session must be live, made for this link and in the state the page needs. A lock stops every check
 * of who is opening the link, so a browser still waiting for its security code stops there too; a
 * browser already verified carries on.
 */
export async function checkPatientAccess(
  services: Services,
  input: { token: string; sessionToken?: string; ip: string; need: PatientSessionState },
): Promise<PatientAccess> {
  const lookup = await lookUpLink(services, input.token, input.ip);
  if (lookup.kind !== 'found') return lookup;
  const { context, state } = lookup;
  if (state.state === 'expired' || state.state === 'revoked') return { kind: 'gone', context, reason: state.state };
  if (input.need === 'awaiting_code' && (state.state === 'locked' || state.state === 'locked-permanently')) return { kind: 'locked', context, lock: state };
  const session = await checkPatientSession(services.db, input.sessionToken, context.link.id, services.now());
  if (session.kind === 'none') return { kind: 'no_session', context };
  if (session.kind === 'expired') return { kind: 'session_expired', context };
  if (session.session.state !== input.need) return { kind: 'wrong_state', context, state: session.session.state };
  return { kind: 'ok', context, session: session.session };
}

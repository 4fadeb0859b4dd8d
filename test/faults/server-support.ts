// The real server (node src/server.ts) as a child process on a test database, and patients made in
// that database for it to serve: what the database-restart and graceful-shutdown faults drive.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Services } from '../../src/services.ts';
import { sendMessage } from '../../src/features/messages/messages.service.ts';
import { createTestOrganisation, createTestPatient, createTestStaff, latestLinkToken } from '../helpers/factories.ts';
import { freePort } from '../helpers/server.ts';
import { TEST_SECRETS } from '../helpers/app.ts';
import { Browser, attempt as attemptOnce, nhsNumberFor, repoRoot, sleep, spawnNode, tempDataDir, type Child, type HttpClient, type HttpResult, type Outcome } from './fault-support.ts';

type After = { after(fn: () => Promise<void> | void): void };

export interface ServerChild extends Child {
  baseUrl: string;
}

export async function serverEnv(databaseUrl: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const port = await freePort();
  return {
    NODE_ENV: 'development',
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: `http://localhost:${port}`,
    SMS_PROVIDER: 'development',
    DEMO_DATA: 'false',
    // The test's clients reach the server over loopback, like a proxy on the same machine.
    TRUST_PROXY: 'loopback',
    DATA_DIR: tempDataDir(),
    NHS_LOGIN_STAND_IN_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    ...TEST_SECRETS,
    ...extra,
  };
}

/** Starts node src/server.ts and waits for its "running" line. */
export async function startServer(t: After, env: Record<string, string>): Promise<ServerChild> {
  const child = spawnNode(t, path.join(repoRoot, 'src/server.ts'), env);
  await child.waitForLine(/Dovecote is running/, 60_000);
  return { ...child, baseUrl: `http://127.0.0.1:${env.PORT}` };
}

export interface TestLink {
  n: number;
  token: string;
  conversationId: string;
  linkId: string;
}

/** `count` patients of one organisation, each sent a message (reply once) with its own link. */
export async function makeLinks(services: Services, count: number, baseUrl: string): Promise<TestLink[]> {
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const links: TestLink[] = [];
  for (let n = 0; n < count; n++) {
    const patient = await createTestPatient(services, organisation.id, { nhsNumber: nhsNumberFor(n), mobileNumber: `+4477009${String(20_000 + n).padStart(5, '0')}` });
    const sent = await sendMessage(services, { organisationId: organisation.id, patient, body: `Your results are ready (${n}).`, replyMode: 'once', sentBy: { staffId: staff.id } });
    links.push({ n, token: await latestLinkToken(services, sent.conversationId), conversationId: sent.conversationId, linkId: sent.linkId });
  }
  assert.ok(baseUrl);
  return links;
}

export interface PatientRun {
  link: TestLink;
  replyText: string;
  /** The reply got the success redirect (303 to /:token/conversation?replied=1). */
  accepted: boolean;
  /** A later try found the reply already there (an earlier try went through but its answer was lost). */
  alreadyReplied: boolean;
  /** Answers that were not the next step (5xx, no answer, an unexpected page), each followed by a pause. */
  failures: number;
  /** Went through the security code (the date of birth alone did not let this browser in). */
  usedCode: boolean;
}

export interface PatientOptions {
  /** Failed answers allowed before the patient gives up (default 60). */
  tries?: number;
  /** Pause after each failed answer (default 150 ms). */
  pauseMs?: number;
  /** A pause before each request after the first, as a person reads and types (default 0). */
  thinkMs?: number;
  /** Checked before every request: true ends the run where it is. */
  stop?: () => boolean;
  /**
   * The security code texted for a link (e.g. read from the outbox). Without it, a patient asked for
   * a code gives up. A browser is asked for one when the link already trusts another device: e.g. its
   * first date of birth committed but the answer (with the device cookie) was lost.
   */
  codeFor?: (link: TestLink) => Promise<string>;
}

/**
 * One patient's browser over real HTTP: open the link, date of birth, security code if asked, open the
 * message, reply. It goes wherever the service sends it (a 303 to the code page, back to the date of
 * birth when a session is gone) and tries again after a pause when an answer is a failure, up to
 * `tries` failures; every answer is kept in `outcomes`. Each run ends after a bounded number of
 * requests, whatever the service does.
 */
export async function runPatient(client: HttpClient, link: TestLink, outcomes: Outcome[], opts: PatientOptions = {}): Promise<PatientRun> {
  const tries = opts.tries ?? 60;
  const pauseMs = opts.pauseMs ?? 150;
  const browser = new Browser(client, `10.${(link.n >> 8) & 255}.${link.n & 255}.7`);
  const run: PatientRun = { link, replyText: `Thank you, that is fine (${link.n}).`, accepted: false, alreadyReplied: false, failures: 0, usedCode: false };
  const { token } = link;
  /** Counts a failed answer and pauses; false once the patient should give up. */
  const failed = async (): Promise<boolean> => {
    run.failures++;
    if (run.failures >= tries || opts.stop?.()) return false;
    await sleep(pauseMs);
    return true;
  };
  /** Where a 303 sends this browser next. */
  const follow = (location: unknown): 'start' | 'code' | 'message' | undefined => {
    if (typeof location !== 'string') return undefined;
    const pathname = location.split('?')[0];
    if (pathname === `/${token}`) return 'start';
    if (pathname === `/${token}/code`) return 'code';
    if (pathname === `/${token}/conversation`) return 'message';
    return undefined;
  };
  let requests = 0;
  const attempt = async (what: string, go: () => Promise<HttpResult>) => {
    if (requests++ > 0 && opts.thinkMs) await sleep(opts.thinkMs);
    return attemptOnce(outcomes, what, go);
  };
  let where: 'start' | 'code' | 'message' = 'start';
  // Each pass either moves on or counts a failure, so `tries` bounds the failures; the step cap
  // bounds a service that sends the browser round in circles without ever failing.
  for (let pass = 0; pass < tries + 20 && !opts.stop?.(); pass++) {
    if (where === 'start') {
      const page = await attempt('open link', () => browser.get(`/${token}`));
      if (page?.status === 200 && !opts.stop?.()) {
        const res = await attempt('date of birth', () => browser.submitDob(token, page.body));
        const next = res?.status === 303 ? follow(res.headers.location) : undefined;
        if (next && next !== 'start') {
          where = next;
          continue;
        }
      }
    } else if (where === 'code') {
      if (!opts.codeFor) return run;
      const page = await attempt('code page', () => browser.get(`/${token}/code`));
      if (page?.status === 303 && follow(page.headers.location)) {
        where = follow(page.headers.location)!;
        continue;
      }
      const code = page?.status === 200 ? await opts.codeFor(link).catch(() => undefined) : undefined;
      if (page && code && !opts.stop?.()) {
        const res = await attempt('security code', () => browser.post(`/${token}/code`, page.body, { code }));
        if (res?.status === 303 && follow(res.headers.location) === 'message') {
          run.usedCode = true;
          where = 'message';
          continue;
        }
      }
    } else {
      const page = await attempt('open message', () => browser.get(`/${token}/conversation`));
      if (page?.status === 303 && follow(page.headers.location)) {
        where = follow(page.headers.location)!;
        continue;
      }
      if (page?.status === 200 && !/name="reply"/.test(page.body)) {
        run.alreadyReplied = true;
        return run;
      }
      if (page?.status === 200 && !opts.stop?.()) {
        const res = await attempt('reply', () => browser.post(`/${token}/conversation/reply`, page.body, { reply: run.replyText }));
        if (res?.status === 303 && res.headers.location === `/${token}/conversation?replied=1`) {
          run.accepted = true;
          return run;
        }
        // Anything else: look at the message again (the reply may have been stored all the same).
      }
    }
    if (!(await failed())) return run;
  }
  return run;
}

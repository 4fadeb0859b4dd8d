// The real server (node src/server.ts) as a child process on a test database, and patients made in
// that database for it to serve: what the database-restart and graceful-shutdown faults drive.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Services } from '../../src/services.ts';
import { sendMessage } from '../../src/features/messages/messages.service.ts';
import { createTestOrganisation, createTestPatient, createTestStaff, latestLinkToken } from '../helpers/factories.ts';
import { freePort } from '../helpers/server.ts';
import { TEST_SECRETS } from '../helpers/app.ts';
import { Browser, attempt, nhsNumberFor, repoRoot, sleep, spawnNode, tempDataDir, type Child, type HttpClient, type Outcome } from './fault-support.ts';

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
    TRUST_PROXY: 'true',
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
}

/** `count` patients of one organisation, each sent a message (reply once) with its own link. */
export async function makeLinks(services: Services, count: number, baseUrl: string): Promise<TestLink[]> {
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const links: TestLink[] = [];
  for (let n = 0; n < count; n++) {
    const patient = await createTestPatient(services, organisation.id, { nhsNumber: nhsNumberFor(n), mobileNumber: `+4477009${String(20_000 + n).padStart(5, '0')}` });
    const sent = await sendMessage(services, { organisationId: organisation.id, patient, body: `Your results are ready (${n}).`, replyMode: 'once', sentBy: { staffId: staff.id } });
    links.push({ n, token: await latestLinkToken(services, sent.conversationId), conversationId: sent.conversationId });
  }
  assert.ok(baseUrl);
  return links;
}

export interface PatientRun {
  link: TestLink;
  replyText: string;
  /** The reply got the success redirect (303 to /:token/message?replied=1). */
  accepted: boolean;
  /** A later try was told the reply already exists (an earlier try went through but its answer was lost). */
  alreadyReplied: boolean;
}

/**
 * One patient: open the link, date of birth, open the message, reply. Each step is tried again (after
 * a pause) while the service answers 5xx, up to `tries` times; every answer is kept in `outcomes`.
 */
export async function runPatient(client: HttpClient, link: TestLink, outcomes: Outcome[], opts: { tries?: number; pauseMs?: number; stop?: () => boolean } = {}): Promise<PatientRun> {
  const tries = opts.tries ?? 60;
  const pauseMs = opts.pauseMs ?? 150;
  const browser = new Browser(client, `10.${(link.n >> 8) & 255}.${link.n & 255}.7`);
  const run: PatientRun = { link, replyText: `Thank you, that is fine (${link.n}).`, accepted: false, alreadyReplied: false };
  const step = async (what: string, go: () => Promise<Awaited<ReturnType<Browser['get']>>>, ok: (status: number) => boolean) => {
    for (let i = 0; i < tries && !opts.stop?.(); i++) {
      const res = await attempt(outcomes, what, go);
      if (res && ok(res.status)) return res;
      await sleep(pauseMs);
    }
    return undefined;
  };
  const open = await step('open link', () => browser.get(`/${link.token}`), (s) => s === 200);
  if (!open) return run;
  const dob = await step('date of birth', async () => {
    const page = await browser.get(`/${link.token}`);
    if (page.status !== 200) return page;
    return browser.submitDob(link.token, page.body);
  }, (s) => s === 303);
  if (!dob) return run;
  const replied = await step('reply', async () => {
    const page = await browser.get(`/${link.token}/message`);
    if (page.status !== 200) return page;
    if (!/name="reply"/.test(page.body)) return { ...page, status: 409 };
    const res = await browser.post(`/${link.token}/reply`, page.body, { reply: run.replyText });
    if (res.status === 303 && res.headers.location === `/${link.token}/message?replied=1`) run.accepted = true;
    return res;
  }, (s) => s === 303 || s === 409);
  if (replied?.status === 409) run.alreadyReplied = true;
  return run;
}

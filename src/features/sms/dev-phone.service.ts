// The development "phone": the texts the development transport kept, per number, newest first, with
// each link found so the page can make it clickable without ever marking text as safe HTML.
import { desc, eq } from 'drizzle-orm';
import { devPhoneTexts } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import type { Config } from '../../config/config.ts';
import { formatUkMobile, normaliseUkMobile } from '../patients/identifiers.ts';

/** The phone page exists only outside production, and only when texts go to the development transport. */
export function devPhoneEnabled(config: Pick<Config, 'env' | 'isProduction' | 'sms'>): boolean {
  return config.env !== 'production' && !config.isProduction && config.sms.provider === 'development';
}

/** A piece of a text: plain words, or a link. The template escapes both. */
export type TextPart = { text: string; href?: undefined } | { text: string; href: string };

const URL_PATTERN = /https?:\/\/[^\s<>"']+/g;

export function splitLinks(body: string): TextPart[] {
  const parts: TextPart[] = [];
  let last = 0;
  for (const match of body.matchAll(URL_PATTERN)) {
    // A full stop or bracket straight after a link ends the sentence, not the link.
    const url = match[0].replace(/[.,;:!?)\]]+$/, '');
    const start = match.index;
    if (start > last) parts.push({ text: body.slice(last, start) });
    parts.push({ text: url, href: url });
    last = start + url.length;
  }
  if (last < body.length) parts.push({ text: body.slice(last) });
  return parts;
}

export interface PhoneText {
  id: string;
  receivedAt: Date;
  parts: TextPart[];
}

export interface Phone {
  /** E.164 without the plus, for the page's URL. */
  slug: string;
  number: string;
  texts: PhoneText[];
}

const MAX_TEXTS = 500;

function toPhones(rows: Array<typeof devPhoneTexts.$inferSelect>): Phone[] {
  const phones = new Map<string, Phone>();
  for (const row of rows) {
    let phone = phones.get(row.phoneE164);
    if (!phone) {
      phone = { slug: row.phoneE164.replace(/^\+/, ''), number: formatUkMobile(row.phoneE164), texts: [] };
      phones.set(row.phoneE164, phone);
    }
    phone.texts.push({ id: row.id, receivedAt: row.createdAt, parts: splitLinks(row.body) });
  }
  // Rows come newest first, so phones are ordered by their newest text.
  return [...phones.values()];
}

/** Every number's texts, the number with the newest text first. */
export async function listDevPhones(on: Queryable): Promise<Phone[]> {
  const rows = await on
    .select()
    .from(devPhoneTexts)
    .orderBy(desc(devPhoneTexts.createdAt), desc(devPhoneTexts.id))
    .limit(MAX_TEXTS);
  return toPhones(rows);
}

/** One number's texts (the number in any UK form), or null when it is not a UK mobile number. */
export async function getDevPhone(on: Queryable, number: string): Promise<Phone | null> {
  const e164 = normaliseUkMobile(/^\d+$/.test(number) && number.startsWith('44') ? `+${number}` : number);
  if (!e164) return null;
  const rows = await on
    .select()
    .from(devPhoneTexts)
    .where(eq(devPhoneTexts.phoneE164, e164))
    .orderBy(desc(devPhoneTexts.createdAt), desc(devPhoneTexts.id))
    .limit(MAX_TEXTS);
  return toPhones(rows)[0] ?? { slug: e164.replace(/^\+/, ''), number: formatUkMobile(e164), texts: [] };
}

/** The newest text a number received: what a person would read off the phone (tests, browser journeys). */
export async function latestDevPhoneText(on: Queryable, phoneE164: string): Promise<string | undefined> {
  const [row] = await on
    .select({ body: devPhoneTexts.body })
    .from(devPhoneTexts)
    .where(eq(devPhoneTexts.phoneE164, phoneE164))
    .orderBy(desc(devPhoneTexts.createdAt), desc(devPhoneTexts.id))
    .limit(1);
  return row?.body;
}

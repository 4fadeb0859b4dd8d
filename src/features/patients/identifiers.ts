// Validation of what identifies a patient: NHS number (Modulus 11), UK mobile number (E.164), date of
// birth (a real calendar date, not in the future).
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

/** 10 digits whose last is the Modulus 11 check digit of the first nine. Spaces and dashes allowed. */
export function normaliseNhsNumber(input: string): string | null {
  const digits = input.replace(/[\s-]/g, '');
  if (!/^\d{10}$/.test(digits)) return null;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(digits[i]) * (10 - i);
  let check = 11 - (sum % 11);
  if (check === 11) check = 0;
  if (check === 10 || check !== Number(digits[9])) return null;
  return digits;
}

// Ofcom reserves 07700 900000–900999 for drama and testing. libphonenumber does not call them valid,
// but the demo data and tests use them precisely because they can never reach a real person.
const OFCOM_DRAMA_MOBILES = /^\+447700900\d{3}$/;

/** A UK mobile number in E.164 (+447…), or null when it is not one. */
export function normaliseUkMobile(input: string): string | null {
  if (input.length > 32) return null;
  const parsed = parsePhoneNumberFromString(input, 'GB');
  if (!parsed) return null;
  if (OFCOM_DRAMA_MOBILES.test(parsed.number)) return parsed.number;
  if (!parsed.isValid() || parsed.country !== 'GB' || parsed.getType() !== 'MOBILE') return null;
  return parsed.number;
}

/** 07700 900123 style, for staff screens. */
export function formatUkMobile(e164: string): string {
  const parsed = parsePhoneNumberFromString(e164);
  return parsed ? parsed.formatNational() : e164;
}

export type DateParts = { day: string; month: string; year: string };
export type DateProblem =
  | { kind: 'missing'; parts: Array<'day' | 'month' | 'year'> }
  | { kind: 'not-real' }
  | { kind: 'future' }
  | { kind: 'too-old' };

/**
 * Parse the three boxes of the NHS date input. Returns an ISO date (YYYY-MM-DD) or what is wrong, in
 * the order the NHS design system asks errors to be reported.
 */
export function parseDateOfBirth(parts: Partial<DateParts>, today: Date): { ok: true; iso: string } | { ok: false; problem: DateProblem } {
  const day = (parts.day ?? '').trim();
  const month = (parts.month ?? '').trim();
  const year = (parts.year ?? '').trim();
  const missing = (['day', 'month', 'year'] as const).filter((p) => ({ day, month, year })[p] === '');
  if (missing.length > 0) return { ok: false, problem: { kind: 'missing', parts: [...missing] } };
  if (!/^\d{1,2}$/.test(day) || !/^\d{1,2}$/.test(month) || !/^\d{4}$/.test(year)) {
    return { ok: false, problem: { kind: 'not-real' } };
  }
  const d = Number(day);
  const m = Number(month);
  const y = Number(year);
  const date = new Date(Date.UTC(y, m - 1, d));
  if (m < 1 || m > 12 || d < 1 || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) {
    return { ok: false, problem: { kind: 'not-real' } };
  }
  const todayUtc = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  if (date.getTime() > todayUtc) return { ok: false, problem: { kind: 'future' } };
  if (y < 1890) return { ok: false, problem: { kind: 'too-old' } };
  return { ok: true, iso: `${year}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}` };
}

/** The NHS design system's words for each date problem, given what the date is called. */
export function dateProblemMessage(problem: DateProblem, label = 'Date of birth'): string {
  switch (problem.kind) {
    case 'missing':
      return problem.parts.length === 3
        ? `Enter your ${label.toLowerCase()}`
        : `${label} must include a ${problem.parts.join(' and ')}`;
    case 'not-real':
      return `${label} must be a real date`;
    case 'future':
      return `${label} must be in the past`;
    case 'too-old':
      return `${label} must be after 1890`;
  }
}

// Property tests (fast-check) for what identifies a patient: NHS numbers, dates of birth and UK mobile
// numbers. Each property states a rule for every input of a kind, not just the examples we thought of.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { normaliseNhsNumber, normaliseUkMobile, parseDateOfBirth } from './identifiers.ts';

// ---- NHS numbers --------------------------------------------------------------------------------

function checkDigit(nine: number[]): number {
  const sum = nine.reduce((acc, d, i) => acc + d * (10 - i), 0);
  const check = 11 - (sum % 11);
  return check === 11 ? 0 : check; // 10 means no valid number has these nine digits
}

/** Any text: ASCII mostly, and any code point at all (lone surrogates included). Built by hand, as
 *  fc.string({ unit: 'binary' }) spends seconds building its tables on first use. */
const anyText = fc
  .array(fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0, max: 0x10ffff })), { maxLength: 40 })
  .map((cps) => cps.map((cp) => String.fromCodePoint(cp)).join(''));

const digit = fc.integer({ min: 0, max: 9 });
/** Any valid NHS number: nine random digits and their Modulus 11 check digit. */
const validNhsNumber = fc
  .array(digit, { minLength: 9, maxLength: 9 })
  .filter((nine) => checkDigit(nine) !== 10)
  .map((nine) => [...nine, checkDigit(nine)].join(''));

test('NHS number: any nine digits with their computed check digit are accepted', () => {
  fc.assert(
    fc.property(validNhsNumber, (n) => {
      assert.equal(normaliseNhsNumber(n), n);
    }),
    { numRuns: 500 },
  );
});

test('NHS number: nine digits whose check digit would be 10 never make a valid number', () => {
  fc.assert(
    fc.property(
      fc.array(digit, { minLength: 9, maxLength: 9 }).filter((nine) => checkDigit(nine) === 10),
      digit,
      (nine, last) => {
        assert.equal(normaliseNhsNumber([...nine, last].join('')), null);
      },
    ),
  );
});

test('NHS number: changing any single digit of a valid number makes it invalid', () => {
  fc.assert(
    fc.property(validNhsNumber, fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 9 }), (n, position, shift) => {
      const changed = (Number(n[position]) + shift) % 10;
      const typo = n.slice(0, position) + String(changed) + n.slice(position + 1);
      assert.notEqual(typo, n);
      assert.equal(normaliseNhsNumber(typo), null, `${n} → ${typo}`);
    }),
    { numRuns: 500 },
  );
});

test('NHS number: spaces and dashes anywhere are removed', () => {
  const separator = fc.constantFrom('', '', ' ', '-', '  ', ' - ', '\t');
  fc.assert(
    fc.property(validNhsNumber, fc.array(separator, { minLength: 11, maxLength: 11 }), (n, seps) => {
      const written = seps[0] + [...n].map((d, i) => d + seps[i + 1]).join('');
      assert.equal(normaliseNhsNumber(written), n, JSON.stringify(written));
    }),
  );
  assert.equal(normaliseNhsNumber('999 000 0018'), '9990000018');
  assert.equal(normaliseNhsNumber('999-000-0018'), '9990000018');
});

test('NHS number: any string at all returns a valid number or null, never throws', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        anyText,
        fc.array(fc.constantFrom(...'0123456789 -'), { maxLength: 16 }).map((cs) => cs.join('')),
      ),
      (s) => {
      const result = normaliseNhsNumber(s);
      if (result !== null) {
        assert.match(result, /^\d{10}$/);
        assert.equal(Number(result[9]), checkDigit([...result.slice(0, 9)].map(Number)));
      }
      },
    ),
    { numRuns: 1000 },
  );
});

// ---- Dates of birth -----------------------------------------------------------------------------

const TODAY = new Date('2026-11-26T10:00:00Z');
const DAY_MS = 86_400_000;
const pad = (n: number, padded: boolean) => (padded ? String(n).padStart(2, '0') : String(n));
const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

test('date of birth: every real date from 1890 to today round-trips, with or without leading zeros', () => {
  fc.assert(
    fc.property(
      fc.date({ min: new Date('1890-01-01T00:00:00Z'), max: TODAY, noInvalidDate: true }),
      fc.boolean(),
      fc.boolean(),
      fc.constantFrom('', ' '),
      (date, padDay, padMonth, space) => {
        const parts = {
          day: space + pad(date.getUTCDate(), padDay),
          month: pad(date.getUTCMonth() + 1, padMonth) + space,
          year: String(date.getUTCFullYear()),
        };
        const result = parseDateOfBirth(parts, TODAY);
        assert.deepEqual(result, { ok: true, iso: date.toISOString().slice(0, 10) });
      },
    ),
    { numRuns: 1000 },
  );
});

test('date of birth: impossible dates (31 February, month 13, day 0, 31 April, 29 February in a common year) are not real', () => {
  const year = fc.integer({ min: 1890, max: 2025 });
  const impossible = fc.oneof(
    fc.record({ day: fc.integer({ min: 30, max: 31 }), month: fc.constant(2), year }),
    fc.record({ day: fc.constant(29), month: fc.constant(2), year: year.filter((y) => !isLeap(y)) }),
    fc.record({ day: fc.constant(31), month: fc.constantFrom(4, 6, 9, 11), year }),
    fc.record({ day: fc.integer({ min: 1, max: 28 }), month: fc.integer({ min: 13, max: 99 }), year }),
    fc.record({ day: fc.integer({ min: 1, max: 28 }), month: fc.constant(0), year }),
    fc.record({ day: fc.constant(0), month: fc.integer({ min: 1, max: 12 }), year }),
    fc.record({ day: fc.integer({ min: 32, max: 99 }), month: fc.integer({ min: 1, max: 12 }), year }),
  );
  fc.assert(
    fc.property(impossible, (d) => {
      const result = parseDateOfBirth({ day: String(d.day), month: String(d.month), year: String(d.year) }, TODAY);
      assert.deepEqual(result, { ok: false, problem: { kind: 'not-real' } }, JSON.stringify(d));
    }),
    { numRuns: 500 },
  );
  // Text, signs and decimals are not dates either.
  for (const parts of [
    { day: 'ten', month: '1', year: '1990' },
    { day: '1', month: '1', year: '90' },
    { day: '-1', month: '1', year: '1990' },
    { day: '1.5', month: '1', year: '1990' },
  ]) {
    assert.deepEqual(parseDateOfBirth(parts, TODAY), { ok: false, problem: { kind: 'not-real' } });
  }
});

test('date of birth: every real date after today is in the future', () => {
  fc.assert(
    fc.property(fc.date({ min: new Date(TODAY.getTime() + DAY_MS), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true }), (date) => {
      const result = parseDateOfBirth(
        { day: String(date.getUTCDate()), month: String(date.getUTCMonth() + 1), year: String(date.getUTCFullYear()) },
        TODAY,
      );
      assert.deepEqual(result, { ok: false, problem: { kind: 'future' } });
    }),
    { numRuns: 500 },
  );
  assert.equal(parseDateOfBirth({ day: '26', month: '11', year: '2026' }, TODAY).ok, true, 'today is not the future');
});

test('date of birth: the missing parts are listed, in day, month, year order', () => {
  const blank = fc.constantFrom<string | undefined>('', '  ', undefined, '\t');
  fc.assert(
    fc.property(
      fc.subarray(['day', 'month', 'year'] as const, { minLength: 1 }),
      blank,
      fc.record({ day: fc.stringMatching(/^\d{1,2}$/), month: fc.stringMatching(/^\d{1,2}$/), year: fc.stringMatching(/^\d{4}$/) }),
      (missing, empty, filled) => {
        const parts: Record<string, string | undefined> = { ...filled };
        for (const p of missing) parts[p] = empty;
        const result = parseDateOfBirth(parts, TODAY);
        assert.deepEqual(result, { ok: false, problem: { kind: 'missing', parts: missing } });
      },
    ),
    { numRuns: 500 },
  );
});

test('date of birth: any text in the boxes gives a result, never throws', () => {
  fc.assert(
    fc.property(
      fc.record({ day: fc.string({ maxLength: 6 }), month: fc.string({ maxLength: 6 }), year: fc.string({ maxLength: 8 }) }, { requiredKeys: [] }),
      (parts) => {
        const result = parseDateOfBirth(parts, TODAY);
        if (result.ok) assert.match(result.iso, /^\d{4}-\d{2}-\d{2}$/);
        else assert.ok(['missing', 'not-real', 'future', 'too-old'].includes(result.problem.kind));
      },
    ),
    { numRuns: 1000 },
  );
});

// ---- UK mobile numbers --------------------------------------------------------------------------

/** Writes the characters with a random run of spaces (or nothing) between each of them. */
const spaced = (text: string) =>
  fc.array(fc.constantFrom('', '', ' ', '  '), { minLength: text.length + 1, maxLength: text.length + 1 }).map(
    (gaps) => gaps[0] + [...text].map((c, i) => c + gaps[i + 1]).join(''),
  );

const dramaMobile = fc.integer({ min: 0, max: 999 }).map((n) => String(n).padStart(3, '0'));

test('mobile: 07700 900000–900999 in any spacing, national or +44, normalise to E.164', () => {
  fc.assert(
    fc.property(
      dramaMobile.chain((last3) =>
        fc.tuple(fc.constant(last3), fc.oneof(spaced(`07700900${last3}`), spaced(`7700900${last3}`).map((s) => `+44${s}`))),
      ),
      ([last3, written]) => {
        assert.equal(normaliseUkMobile(written), `+447700900${last3}`, JSON.stringify(written));
      },
    ),
    { numRuns: 1000 },
  );
  assert.equal(normaliseUkMobile('07700 900123'), '+447700900123');
  assert.equal(normaliseUkMobile('+44 7700 900123'), '+447700900123');
});

test('mobile: landline numbers (Ofcom drama ranges and real-format ones) are refused, national or +44', () => {
  // Ofcom's ranges for drama: 0113 496 0xxx … 0161 496 0xxx, 020 7946 0xxx, 0191 498 0xxx, 029 2018 0xxx,
  // 028 9649 6xxx, 01632 960xxx.
  const landline = fc.oneof(
    fc.tuple(fc.constantFrom('0113496', '0114496', '0115496', '0116496', '0117496', '0118496', '0121496', '0131496', '0141496', '0151496', '0161496', '0191498', '02079460', '02920180', '02896496', '01632960'), fc.integer({ min: 0, max: 999 })).map(
      ([prefix, n]) => `${prefix}${String(n).padStart(11 - prefix.length, '0')}`,
    ),
    // Real-format geographic numbers: London 020 3/7/8, Manchester 0161, Leeds 0113.
    fc.tuple(fc.constantFrom('0203', '0207', '0208', '01612', '01132'), fc.integer({ min: 0, max: 999_999 })).map(
      ([prefix, n]) => `${prefix}${String(n).padStart(11 - prefix.length, '0')}`,
    ),
  );
  fc.assert(
    fc.property(landline, fc.boolean(), (national, international) => {
      const written = international ? `+44${national.slice(1)}` : national;
      assert.equal(normaliseUkMobile(written), null, written);
    }),
    { numRuns: 1000 },
  );
});

test('mobile: any string at all returns a UK mobile in E.164 or null, never throws', () => {
  fc.assert(
    fc.property(fc.oneof(anyText, fc.stringMatching(/^[+\d ()-]{0,40}$/)), (s) => {
      const result = normaliseUkMobile(s);
      if (result !== null) assert.match(result, /^\+447\d{9}$/);
    }),
    { numRuns: 2000 },
  );
});

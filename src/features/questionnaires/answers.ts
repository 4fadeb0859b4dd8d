// Answers from what a browser posts, one question at a time, checked against the question's rules, with
// error messages for the NHS error summary (NHS content style: say what to do, in plain words).
//
// The words use the item's SDC shortText as the noun phrase when it has one ("your weight" → "Enter your
// weight in kilograms", "Your weight must be between 30 and 300 kilograms"); without it they fall back
// to general words ("Enter a whole number").
import { z } from 'zod';
import { OTHER_OPTION, isPatientAnswered, type AnsweredFile, type AnswerValue, type Answers, type QuestionnaireDefinition, type QuestionnaireItem, isRealDate } from './definition.ts';
import { enabledItems, sameAnswer } from './enable-when.ts';

/** The fields a question page posts: value (one or more), other (open-choice), day, month, year (dates). */
export type FormInput = Readonly<Record<string, string | readonly string[] | undefined>>;

export type AnswerField = 'value' | 'other' | 'day' | 'month' | 'year';

export interface AnswerError {
  linkId: string;
  /** The input the error summary links to. */
  field: AnswerField;
  message: string;
}

export type ParsedAnswer = { ok: true; answers: AnswerValue[] } | { ok: false; error: AnswerError };

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const INT32 = 2_147_483_647;

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const unitName = (item: QuestionnaireItem) => (item.unit ? ` ${item.unit.display ?? item.unit.code}` : '');
export const formatDate = (iso: string) => {
  const [year, month, day] = iso.split('-').map(Number);
  return `${day} ${MONTHS[month! - 1]} ${year}`;
};
const characters = (s: string) => [...s].length;
// Control characters other than tab and new line are not text a person types, and PostgreSQL cannot
// store NUL in jsonb (a 500, not an answer).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NOT_TEXT = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

function first(input: FormInput, field: string): string {
  const value = input[field];
  return (typeof value === 'string' ? value : (value?.[0] ?? '')).trim();
}

function all(input: FormInput, field: string): string[] {
  const value = input[field];
  const list = typeof value === 'string' ? [value] : (value ?? []);
  return [...new Set(list.map((v) => v.trim()).filter((v) => v !== ''))];
}

class Words {
  readonly item: QuestionnaireItem;
  constructor(item: QuestionnaireItem) {
    this.item = item;
  }
  get label() {
    return this.item.shortText;
  }
  subject(fallback = 'The answer') {
    return this.label ? capitalise(this.label) : fallback;
  }
  enter() {
    const { label, item } = this;
    if (item.type === 'date') return label ? `Enter ${label}` : 'Enter a date';
    if (item.unit) return `Enter ${label ?? 'your answer'} in${unitName(item)}`;
    if (item.type === 'integer' && !label) return 'Enter a whole number';
    if (item.type === 'decimal' && !label) return 'Enter a number';
    return label ? `Enter ${label}` : 'Enter your answer';
  }
  select() {
    if (this.item.type === 'boolean') return 'Select yes or no';
    return this.label ? `Select ${this.label}` : 'Select an answer';
  }
  range(min: number | undefined, max: number | undefined) {
    const unit = unitName(this.item);
    if (min !== undefined && max !== undefined) return `${this.subject()} must be between ${min} and ${max}${unit}`;
    if (min !== undefined) return `${this.subject()} must be ${min}${unit} or more`;
    return `${this.subject()} must be ${max}${unit} or less`;
  }
}

const fail = (item: QuestionnaireItem, message: string, field: AnswerField = 'value'): ParsedAnswer => ({ ok: false, error: { linkId: item.linkId, field, message } });

function missing(item: QuestionnaireItem): ParsedAnswer {
  const words = new Words(item);
  if (!item.required) return { ok: true, answers: [] };
  const message =
    item.type === 'attachment' ? (words.label ? `Add ${words.label}` : 'Add a file') : ['boolean', 'choice', 'open-choice'].includes(item.type) ? words.select() : words.enter();
  return fail(item, message, item.type === 'date' ? 'day' : 'value');
}

function number(item: QuestionnaireItem, text: string): ParsedAnswer {
  const words = new Words(item);
  const cleaned = text.replace(/[\s,]/g, '');
  if (cleaned === '') return missing(item);
  if (item.type === 'integer') {
    if (!/^[+-]?\d+$/.test(cleaned)) return fail(item, words.label ? `${words.subject()} must be a whole number` : 'Enter a whole number');
    const value = Number(cleaned);
    if (Math.abs(value) > INT32) return fail(item, `${words.subject()} must be a smaller number`);
    return { ok: true, answers: [{ type: 'integer', value: value === 0 ? 0 : value }] };
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(cleaned)) return fail(item, words.label ? `${words.subject()} must be a number` : 'Enter a number');
  const places = cleaned.includes('.') ? cleaned.split('.')[1]!.replace(/0+$/, '').length : 0;
  if (item.maxDecimalPlaces !== undefined && places > item.maxDecimalPlaces) {
    return fail(item, item.maxDecimalPlaces === 0 ? `${words.subject()} must be a whole number` : `${words.subject()} must have no more than ${item.maxDecimalPlaces} decimal place${item.maxDecimalPlaces === 1 ? '' : 's'}`);
  }
  const value = Number(cleaned);
  if (!Number.isFinite(value) || Math.abs(value) > 1e15) return fail(item, `${words.subject()} must be a smaller number`);
  return { ok: true, answers: [{ type: item.type === 'quantity' ? 'quantity' : 'decimal', value: value === 0 ? 0 : value }] };
}

function date(item: QuestionnaireItem, input: FormInput): ParsedAnswer {
  const words = new Words(item);
  const parts = { day: first(input, 'day'), month: first(input, 'month'), year: first(input, 'year') };
  const absent = (Object.keys(parts) as Array<keyof typeof parts>).filter((k) => parts[k] === '');
  if (absent.length === 3) return missing(item);
  const subject = words.subject('The date');
  if (absent.length > 0) return fail(item, `${subject} must include a ${absent.join(' and ')}`, absent[0]);
  if (!/^\d{1,2}$/.test(parts.day)) return fail(item, `${subject} must be a real date`, 'day');
  const month = /^\d{1,2}$/.test(parts.month) ? Number(parts.month) : MONTHS.findIndex((m) => m.toLowerCase().startsWith(parts.month.toLowerCase()) && parts.month.length >= 3) + 1;
  if (month < 1 || month > 12) return fail(item, `${subject} must be a real date`, 'month');
  if (!/^\d{4}$/.test(parts.year)) return fail(item, 'Year must include 4 numbers', 'year');
  const iso = `${parts.year}-${String(month).padStart(2, '0')}-${parts.day.padStart(2, '0')}`;
  if (!isRealDate(iso)) return fail(item, `${subject} must be a real date`, 'day');
  return { ok: true, answers: [{ type: 'date', value: iso }] };
}

function options(item: QuestionnaireItem, input: FormInput): ParsedAnswer {
  const words = new Words(item);
  const keys = item.repeats ? all(input, 'value') : [first(input, 'value')].filter((k) => k !== '');
  const other = item.type === 'open-choice' ? first(input, 'other').replace(/\r\n?/g, '\n') : '';
  const answers: AnswerValue[] = [];
  let otherChosen = false;
  for (const key of keys) {
    if (key === OTHER_OPTION && item.type === 'open-choice') {
      otherChosen = true;
      continue;
    }
    const option = item.options.find((o) => o.key === key);
    if (!option) return fail(item, 'Select an answer from the list');
    answers.push(option.value);
  }
  // With JavaScript off the "Other" text box shows whether or not "Other" is chosen: typing in it is choosing it.
  if (item.type === 'open-choice' && other !== '' && (otherChosen || keys.length === 0)) {
    otherChosen = true;
  }
  if (otherChosen) {
    if (other === '') return fail(item, words.label ? `Enter ${words.label}` : 'Enter your answer for "Other"', 'other');
    if (NOT_TEXT.test(other)) return fail(item, `${words.subject('Your answer')} must not contain special characters`, 'other');
    answers.push({ type: 'string', value: other });
  }
  if (answers.length === 0) return missing(item);
  return { ok: true, answers };
}

/**
 * An attachment question's answer: the files the patient has added on its page (taken in and checked
 * by the files feature, patient-questionnaire.routes.ts), checked against the question's rules.
 */
export function attachmentAnswer(item: QuestionnaireItem, files: readonly AnsweredFile[]): ParsedAnswer {
  const answers: AnswerValue[] = files.map((value) => ({ type: 'attachment', value }));
  if (answers.length === 0) return missing(item);
  const broken = checkAnswers(item, answers);
  return broken ? { ok: false, error: broken } : { ok: true, answers };
}

/** Reads one question's answer from a posted form, or the error to show. Checks every rule of the question. */
export function parseAnswer(item: QuestionnaireItem, input: FormInput): ParsedAnswer {
  let parsed: ParsedAnswer;
  switch (item.type) {
    case 'boolean': {
      const value = first(input, 'value').toLowerCase();
      if (value === '') parsed = missing(item);
      else if (value === 'true' || value === 'yes') parsed = { ok: true, answers: [{ type: 'boolean', value: true }] };
      else if (value === 'false' || value === 'no') parsed = { ok: true, answers: [{ type: 'boolean', value: false }] };
      else parsed = fail(item, 'Select yes or no');
      break;
    }
    case 'string':
    case 'text': {
      const raw = first(input, 'value').replace(/\r\n?/g, '\n');
      const value = item.type === 'string' ? raw.replace(/\s+/g, ' ') : raw;
      if (NOT_TEXT.test(value)) parsed = fail(item, `${new Words(item).subject('Your answer')} must not contain special characters`);
      else parsed = value === '' ? missing(item) : { ok: true, answers: [{ type: 'string', value }] };
      break;
    }
    case 'integer':
    case 'decimal':
    case 'quantity':
      parsed = number(item, first(input, 'value'));
      break;
    case 'date':
      parsed = date(item, input);
      break;
    case 'choice':
    case 'open-choice':
      parsed = options(item, input);
      break;
    default:
      parsed = { ok: true, answers: [] };
  }
  if (!parsed.ok) return parsed;
  const broken = checkAnswers(item, parsed.answers);
  return broken ? { ok: false, error: broken } : parsed;
}

/** The question's rules on answers already read (also used on stored answers, before they are trusted). */
export function checkAnswers(item: QuestionnaireItem, answers: readonly AnswerValue[]): AnswerError | undefined {
  const words = new Words(item);
  const error = (message: string, field: AnswerField = 'value'): AnswerError => ({ linkId: item.linkId, field, message });
  if (answers.length === 0) return item.required ? (missing(item) as { ok: false; error: AnswerError }).error : undefined;
  const files = item.type === 'attachment';
  if (answers.length > 1 && !item.repeats) return error(files ? 'Add one file only' : 'Select one answer');
  for (const answer of answers) {
    if (answer.type === 'string' && (item.type === 'string' || item.type === 'text' || item.type === 'open-choice')) {
      const field: AnswerField = item.type === 'open-choice' ? 'other' : 'value';
      if (item.maxLength !== undefined && characters(answer.value) > item.maxLength) return error(`${words.subject()} must be ${item.maxLength} characters or fewer`, field);
      if (item.minLength !== undefined && characters(answer.value) < item.minLength) return error(`${words.subject()} must be ${item.minLength} characters or more`, field);
    }
    if (answer.type === 'integer' || answer.type === 'decimal' || answer.type === 'quantity') {
      const min = typeof item.minValue === 'number' ? item.minValue : undefined;
      const max = typeof item.maxValue === 'number' ? item.maxValue : undefined;
      if ((min !== undefined && answer.value < min) || (max !== undefined && answer.value > max)) return error(words.range(min, max));
    }
    if (answer.type === 'date') {
      const subject = words.subject('The date');
      if (typeof item.minValue === 'string' && answer.value < item.minValue) return error(`${subject} must be the same as or after ${formatDate(item.minValue)}`, 'day');
      if (typeof item.maxValue === 'string' && answer.value > item.maxValue) return error(`${subject} must be the same as or before ${formatDate(item.maxValue)}`, 'day');
    }
  }
  const exclusive = item.options.find((o) => o.exclusive && answers.some((a) => sameAnswer(a, o.value)));
  if (exclusive && answers.length > 1) return error(`Select "${exclusive.label}" or the other answers, not both`);
  if (item.repeats && item.minOccurs !== undefined && answers.length < item.minOccurs) return error(files ? `Add at least ${item.minOccurs} files` : `Select at least ${item.minOccurs} answers`);
  if (item.repeats && item.maxOccurs !== undefined && answers.length > item.maxOccurs) {
    return error(files ? `You can add up to ${item.maxOccurs} file${item.maxOccurs === 1 ? '' : 's'}` : `Select no more than ${item.maxOccurs} answer${item.maxOccurs === 1 ? '' : 's'}`);
  }
  return undefined;
}

/**
 * Every problem with a set of answers before submission: enabled questions only, in document order. A
 * required group (R4: at least one of its questions answered) with none answered is reported on its
 * first enabled question.
 */
export function validateAnswers(definition: QuestionnaireDefinition, answers: Answers): AnswerError[] {
  const enabled = enabledItems(definition, answers);
  const errors: AnswerError[] = [];
  const questionsIn = (group: QuestionnaireItem): QuestionnaireItem[] =>
    group.items.flatMap((child) => (!enabled.has(child.linkId) ? [] : child.type === 'group' ? questionsIn(child) : isPatientAnswered(child) ? [child] : []));
  for (const linkId of definition.order) {
    const item = definition.byLinkId.get(linkId)!;
    if (!enabled.has(linkId)) continue;
    if (item.type === 'group' && item.required) {
      const questions = questionsIn(item);
      if (questions.length > 0 && questions.every((q) => (answers.get(q.linkId) ?? []).length === 0)) {
        errors.push({ linkId: questions[0]!.linkId, field: 'value', message: `Answer at least one question in "${item.text ?? 'this section'}"` });
      }
    }
    if (!isPatientAnswered(item)) continue;
    const broken = checkAnswers(item, answers.get(linkId) ?? []);
    if (broken) errors.push(broken);
  }
  return errors;
}

/** The first enabled question the patient has not answered (where a returning patient carries on). */
export function firstUnanswered(definition: QuestionnaireDefinition, answers: Answers): QuestionnaireItem | undefined {
  const enabled = enabledItems(definition, answers);
  for (const linkId of definition.order) {
    const item = definition.byLinkId.get(linkId)!;
    if (enabled.has(linkId) && isPatientAnswered(item) && (answers.get(linkId) ?? []).length === 0) return item;
  }
  return undefined;
}

const codingJson = z.object({ system: z.string().optional(), code: z.string(), display: z.string().optional() });
const answerJson = z.discriminatedUnion('type', [
  z.object({ type: z.literal('boolean'), value: z.boolean() }),
  z.object({ type: z.literal('coding'), value: codingJson }),
  z.object({ type: z.literal('string'), value: z.string() }),
  z.object({ type: z.literal('integer'), value: z.number().int() }),
  z.object({ type: z.literal('decimal'), value: z.number() }),
  z.object({ type: z.literal('quantity'), value: z.number() }),
  z.object({ type: z.literal('date'), value: z.string().refine(isRealDate) }),
  z.object({
    type: z.literal('attachment'),
    value: z.object({ fileId: z.uuid(), contentType: z.string().min(1), title: z.string(), size: z.number().int().min(0), creation: z.iso.datetime({ offset: true }) }),
  }),
]);
const answersJson = z.record(z.string(), z.array(answerJson));

/** Answers as JSON, to keep between pages. */
export function answersToJson(answers: Answers): Record<string, AnswerValue[]> {
  return Object.fromEntries([...answers].map(([linkId, values]) => [linkId, [...values]]));
}

/**
 * Answers kept as JSON, read back for this definition: answers to items it does not have, or that break
 * its rules (a definition is versioned, but stored data is checked rather than trusted), are dropped.
 */
export function answersFromJson(definition: QuestionnaireDefinition, json: unknown): Map<string, AnswerValue[]> {
  const parsed = answersJson.safeParse(json);
  const result = new Map<string, AnswerValue[]>();
  if (!parsed.success) return result;
  for (const [linkId, values] of Object.entries(parsed.data)) {
    const item = definition.byLinkId.get(linkId);
    if (!item || !isPatientAnswered(item) || values.length === 0) continue;
    const fits = values.every((v) => answerFits(item, v));
    if (fits && !checkAnswers(item, values)) result.set(linkId, values);
  }
  return result;
}

function answerFits(item: QuestionnaireItem, answer: AnswerValue): boolean {
  switch (item.type) {
    case 'choice':
    case 'open-choice':
      if (answer.type === 'string' && item.type === 'open-choice') return true;
      return item.options.some((o) => o.value.type === answer.type && sameAnswer(o.value, answer));
    case 'string':
    case 'text':
      return answer.type === 'string';
    default:
      return answer.type === item.type;
  }
}

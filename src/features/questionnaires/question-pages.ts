// One question as a page (NHS "question pages" pattern): which NHS design system component shows it,
// its heading and caption, and what is filled in — from the stored answer, or from what was just
// posted when it is shown again with an error.
import type { AnswerError, FormInput } from './answers.ts';
import { OTHER_OPTION, type AnswerValue, type QuestionnaireDefinition, type QuestionnaireItem } from './definition.ts';
import { sameAnswer } from './enable-when.ts';

export type Control = 'radios' | 'checkboxes' | 'date' | 'input' | 'textarea' | 'file';

export interface QuestionPageView {
  linkId: string;
  control: Control;
  heading: string;
  /** A short group name shown above the heading ("Reading 1"). */
  caption?: string;
  /** Long group stems ("Over the last 2 weeks…") and display items before the question. */
  lead: string[];
  hint?: string;
  options: Array<{ value: string; text: string; checked: boolean; exclusive: boolean }>;
  /** open-choice: the "Other" choice and its text box. */
  other?: { checked: boolean; value: string };
  value: string;
  date: { day: string; month: string; year: string };
  suffix?: string;
  inputmode?: 'numeric' | 'decimal';
  /** nhsuk-input--width-N for numbers. */
  width?: number;
  maxLength?: number;
  error?: AnswerError;
  /** The id the error summary links to. */
  errorHref?: string;
}

const CAPTION_MAX = 40;

function controlOf(item: QuestionnaireItem): Control {
  switch (item.type) {
    case 'boolean':
      return 'radios';
    case 'choice':
    case 'open-choice':
      return item.repeats ? 'checkboxes' : 'radios';
    case 'date':
      return 'date';
    case 'text':
      return 'textarea';
    case 'attachment':
      return 'file';
    default:
      return 'input';
  }
}

/** The field ids of each control, as the templates draw them (the error summary links to these). */
export function fieldId(control: Control, field: AnswerError['field']): string {
  if (control === 'file') return 'files';
  if (control === 'date') return field === 'month' ? 'date-month' : field === 'year' ? 'date-year' : 'date-day';
  if (field === 'other') return 'other';
  return 'value';
}

function groupContext(definition: QuestionnaireDefinition, item: QuestionnaireItem): { caption?: string; lead: string[] } {
  const lead: string[] = [];
  let caption: string | undefined;
  for (let parent = item.parentLinkId; parent; parent = definition.byLinkId.get(parent)?.parentLinkId) {
    const text = definition.byLinkId.get(parent)?.text;
    if (!text) continue;
    if (text.length <= CAPTION_MAX && caption === undefined) caption = text;
    else lead.unshift(text);
  }
  // Display items just before the question, among its siblings, belong to it (instructions, a stem).
  const siblings = item.parentLinkId ? (definition.byLinkId.get(item.parentLinkId)?.items ?? []) : definition.items;
  const index = siblings.findIndex((s) => s.linkId === item.linkId);
  const displays: string[] = [];
  for (let i = index - 1; i >= 0 && siblings[i]!.type === 'display'; i--) if (siblings[i]!.text) displays.unshift(siblings[i]!.text!);
  return { ...(caption !== undefined && { caption }), lead: [...lead, ...displays] };
}

function postedList(input: FormInput, field: string): string[] {
  const value = input[field];
  return typeof value === 'string' ? [value] : [...(value ?? [])];
}

function postedText(input: FormInput, field: string): string {
  const value = input[field];
  return (typeof value === 'string' ? value : (value?.[0] ?? '')).slice(0, 10_000);
}

/** What the form shows: from a post shown again, or from the stored answer. */
function filledIn(item: QuestionnaireItem, stored: readonly AnswerValue[], posted: FormInput | undefined) {
  if (posted) {
    const chosen = postedList(posted, 'value');
    return {
      chosen,
      other: postedText(posted, 'other'),
      value: postedText(posted, 'value'),
      date: { day: postedText(posted, 'day'), month: postedText(posted, 'month'), year: postedText(posted, 'year') },
    };
  }
  const chosen: string[] = [];
  let other = '';
  let value = '';
  let date = { day: '', month: '', year: '' };
  for (const answer of stored) {
    // A file is shown from the page's drafts (the files feature), not from the answer.
    if (answer.type === 'attachment') continue;
    if (answer.type === 'boolean') chosen.push(answer.value ? 'yes' : 'no');
    else if (item.options.length > 0 && answer.type !== 'date') {
      const option = item.options.find((o) => sameAnswer(o.value, answer));
      if (option) chosen.push(option.key);
      else if (answer.type === 'string') {
        chosen.push(OTHER_OPTION);
        other = answer.value;
      }
    } else if (answer.type === 'date') {
      const [year, month, day] = answer.value.split('-');
      date = { day: String(Number(day)), month: String(Number(month)), year: year! };
    } else value = String(answer.value);
  }
  return { chosen, other, value, date };
}

export function questionPage(
  definition: QuestionnaireDefinition,
  item: QuestionnaireItem,
  source: { stored: readonly AnswerValue[]; posted?: FormInput; error?: AnswerError },
): QuestionPageView {
  const control = controlOf(item);
  const filled = filledIn(item, source.stored, source.posted);
  // A question may already say it is optional (the catalogue's "Pulse (optional)"): say it once.
  const saysOptional = /\(optional\)\s*$/i.test(item.text ?? '');
  const heading = `${item.prefix ? `${item.prefix} ` : ''}${item.text ?? 'Question'}${item.required || saysOptional ? '' : ' (optional)'}`;
  const options =
    item.type === 'boolean'
      ? [
          { value: 'yes', text: 'Yes', checked: filled.chosen.includes('yes'), exclusive: false },
          { value: 'no', text: 'No', checked: filled.chosen.includes('no'), exclusive: false },
        ]
      : item.options.map((o) => ({ value: o.key, text: o.label, checked: filled.chosen.includes(o.key), exclusive: o.exclusive }));
  const numeric = item.type === 'integer' || item.type === 'decimal' || item.type === 'quantity';
  const unit = item.unit?.display ?? item.unit?.code;
  return {
    linkId: item.linkId,
    control,
    heading,
    ...groupContext(definition, item),
    ...(item.entryFormat !== undefined && { hint: item.entryFormat }),
    options,
    ...(item.type === 'open-choice' && { other: { checked: filled.chosen.includes(OTHER_OPTION), value: filled.other } }),
    value: filled.value,
    date: filled.date,
    ...(numeric && unit && { suffix: unit }),
    ...(numeric && { inputmode: item.type === 'integer' ? ('numeric' as const) : ('decimal' as const), width: 4 }),
    ...(item.maxLength !== undefined && { maxLength: item.maxLength }),
    ...(source.error && { error: source.error, errorHref: `#${fieldId(control, source.error.field)}` }),
  };
}

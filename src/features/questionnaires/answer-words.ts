// Answers in words, for the patient's Check your answers page, the staff conversation page and the
// plain-text "Copy for the record" summary a clinician pastes into the GP record.
import { formatDate } from './answers.ts';
import { allItems, isQuestion, type AnswerValue, type Answers, type Coding, type QuestionnaireDefinition, type QuestionnaireItem } from './definition.ts';
import { sameAnswer } from './enable-when.ts';
import type { UrgentFlag } from './urgent-flags.ts';

const SYSTEM_NAMES: Record<string, string> = {
  'http://loinc.org': 'LOINC',
  'http://snomed.info/sct': 'SNOMED CT',
  'http://unitsofmeasure.org': 'UCUM',
};

export const systemName = (system: string | undefined): string => (system ? (SYSTEM_NAMES[system] ?? system) : 'no system');

function unitWords(item: QuestionnaireItem): string {
  return item.unit ? ` ${item.unit.display ?? item.unit.code ?? ''}`.trimEnd() : '';
}

/** One answer as the patient chose or typed it: the option's label, "Yes", "72.5 kg", "3 December 2026". */
export function answerValueText(item: QuestionnaireItem, value: AnswerValue): string {
  switch (value.type) {
    case 'boolean':
      return value.value ? 'Yes' : 'No';
    case 'coding':
    case 'integer':
    case 'string': {
      const option = item.options.find((o) => sameAnswer(o.value, value));
      if (option) return option.label;
      if (value.type === 'coding') return value.value.display ?? value.value.code;
      return value.type === 'integer' ? `${value.value}${unitWords(item)}` : value.value;
    }
    case 'decimal':
    case 'quantity':
      return `${value.value}${unitWords(item)}`;
    case 'date':
      return formatDate(value.value);
    case 'attachment':
      return value.value.title;
  }
}

export function answerText(item: QuestionnaireItem, values: readonly AnswerValue[] | undefined): string {
  return values && values.length > 0 ? values.map((v) => answerValueText(item, v)).join(', ') : 'Not answered';
}

/** The question's words with its group's, for a list of answers out of their pages: "Reading 1: Systolic". */
export function questionLabel(definition: QuestionnaireDefinition, item: QuestionnaireItem): string {
  const groups: string[] = [];
  for (let parent = item.parentLinkId; parent; parent = definition.byLinkId.get(parent)?.parentLinkId) {
    const group = definition.byLinkId.get(parent);
    // Long group texts are the stem of every question in them ("Over the last 2 weeks…"): leave them out.
    // A group text that leads into its questions ("In the last month:") keeps one colon, not two.
    if (group?.text && group.text.length <= 40) groups.unshift(group.text.replace(/:\s*$/, ''));
  }
  const text = `${item.prefix ? `${item.prefix} ` : ''}${item.text ?? item.linkId}`;
  return [...groups, text].join(': ');
}

export interface AnswerRow {
  linkId: string;
  question: string;
  answer: string;
  /** Worked out by Dovecote (a total, BMI, an average), not typed by the patient. */
  calculated: boolean;
  hidden: boolean;
  codes: Coding[];
}

/** Every enabled question with its answer, in order (resolved answers: calculated values included). */
export function answerRows(definition: QuestionnaireDefinition, answers: Answers, enabled: ReadonlySet<string>): AnswerRow[] {
  const rows: AnswerRow[] = [];
  for (const item of allItems(definition.items)) {
    if (!isQuestion(item) || !enabled.has(item.linkId)) continue;
    const calculated = item.calculatedExpression !== undefined || item.readOnly;
    const values = answers.get(item.linkId);
    if (calculated && !values?.length) continue;
    rows.push({
      linkId: item.linkId,
      question: questionLabel(definition, item),
      answer: answerText(item, values),
      calculated,
      hidden: item.hidden,
      codes: item.code,
    });
  }
  return rows;
}

function codedValue(item: QuestionnaireItem, value: AnswerValue): string {
  if (value.type === 'coding') return `${systemName(value.value.system)} ${value.value.code} ${value.value.display ?? answerValueText(item, value)}`;
  if (value.type === 'quantity' || value.type === 'decimal' || value.type === 'integer') {
    const unit = item.unit ? ` ${item.unit.code ?? item.unit.display ?? ''}`.trimEnd() : '';
    return `${value.value}${unit}`;
  }
  return answerValueText(item, value);
}

/**
 * The plain-text summary staff copy into the patient's record: flags first, then calculated scores,
 * then each answer; every coded entry with its code system, code, display, value and unit.
 */
export function recordSummary(
  definition: QuestionnaireDefinition,
  answers: Answers,
  enabled: ReadonlySet<string>,
  facts: { status: 'completed' | 'in-progress'; authored: string; flags: readonly UrgentFlag[] },
): string {
  const lines: string[] = [];
  lines.push(`${definition.title ?? definition.name ?? definition.url} (version ${definition.version})`);
  lines.push(facts.status === 'completed' ? `Submitted by the patient on ${facts.authored}` : `Not submitted yet: answers saved so far, last on ${facts.authored}`);
  for (const flag of facts.flags) lines.push(`URGENT: ${flag.staffWords}`);
  const itemsInOrder = [...allItems(definition.items)].filter((i) => isQuestion(i) && enabled.has(i.linkId));
  const calculatedFirst = [...itemsInOrder.filter((i) => i.calculatedExpression), ...itemsInOrder.filter((i) => !i.calculatedExpression)];
  lines.push('');
  for (const item of calculatedFirst) {
    const values = answers.get(item.linkId) ?? [];
    if (values.length === 0 && item.calculatedExpression) continue;
    const code = item.code[0];
    const coded = code ? ` [${systemName(code.system)} ${code.code}${code.display ? ` ${code.display}` : ''}]` : '';
    const value = values.length > 0 ? values.map((v) => codedValue(item, v)).join('; ') : 'Not answered';
    lines.push(`${questionLabel(definition, item)}${coded}: ${value}`);
  }
  return lines.join('\n');
}

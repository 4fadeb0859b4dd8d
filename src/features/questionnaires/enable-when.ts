// enableWhen with FHIR R4 semantics (Questionnaire.item.enableWhen and the questionnaire-enable-operator
// code system): "=" and the ordered operators are true when at least one answer matches; "!=" is true
// when no answer is equal, so also when the question has no answer; "exists" compares "has an answer"
// with its boolean. A question that is itself disabled counts as not answered, and an item whose
// parent is disabled is disabled, whatever its own conditions say. Codings are equal by system and code.
import type { AnswerValue, Answers, EnableWhenCondition, QuestionnaireDefinition, QuestionnaireItem } from './definition.ts';

export function sameAnswer(a: AnswerValue, b: AnswerValue): boolean {
  if (a.type === 'coding' && b.type === 'coding') return a.value.code === b.value.code && (a.value.system ?? '') === (b.value.system ?? '');
  if (isNumeric(a) && isNumeric(b)) return a.value === b.value;
  return a.type === b.type && a.value === b.value;
}

const isNumeric = (a: AnswerValue): a is Extract<AnswerValue, { type: 'integer' | 'decimal' | 'quantity' }> =>
  a.type === 'integer' || a.type === 'decimal' || a.type === 'quantity';

/** Negative, zero or positive; undefined when the two cannot be ordered. */
function compare(a: AnswerValue, b: AnswerValue): number | undefined {
  if (isNumeric(a) && isNumeric(b)) return a.value - b.value;
  if ((a.type === 'date' && b.type === 'date') || (a.type === 'string' && b.type === 'string')) return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
  return undefined;
}

export function conditionHolds(condition: EnableWhenCondition, answers: readonly AnswerValue[]): boolean {
  if (condition.operator === 'exists') return answers.length > 0 === condition.exists;
  const expected = condition.answer;
  if (condition.operator === '=') return answers.some((a) => sameAnswer(a, expected));
  if (condition.operator === '!=') return !answers.some((a) => sameAnswer(a, expected));
  return answers.some((a) => {
    const order = compare(a, expected);
    if (order === undefined) return false;
    switch (condition.operator) {
      case '>':
        return order > 0;
      case '<':
        return order < 0;
      case '>=':
        return order >= 0;
      case '<=':
        return order <= 0;
    }
  });
}

/** The linkIds of every enabled item. Loading refused cycles, so the recursion ends. */
export function enabledItems(definition: QuestionnaireDefinition, answers: Answers): Set<string> {
  const memo = new Map<string, boolean>();
  const enabled = (item: QuestionnaireItem): boolean => {
    const known = memo.get(item.linkId);
    if (known !== undefined) return known;
    const parent = item.parentLinkId ? definition.byLinkId.get(item.parentLinkId) : undefined;
    let result = parent ? enabled(parent) : true;
    if (result && item.enableWhen.length > 0) {
      const holds = (condition: EnableWhenCondition) => {
        const question = definition.byLinkId.get(condition.question)!;
        return conditionHolds(condition, enabled(question) ? (answers.get(question.linkId) ?? []) : []);
      };
      result = item.enableBehavior === 'any' ? item.enableWhen.some(holds) : item.enableWhen.every(holds);
    }
    memo.set(item.linkId, result);
    return result;
  };
  const result = new Set<string>();
  for (const linkId of definition.order) if (enabled(definition.byLinkId.get(linkId)!)) result.add(linkId);
  return result;
}

export function isEnabled(definition: QuestionnaireDefinition, answers: Answers, linkId: string): boolean {
  return enabledItems(definition, answers).has(linkId);
}

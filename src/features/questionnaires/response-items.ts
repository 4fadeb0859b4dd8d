// The item tree of a QuestionnaireResponse, mirroring the Questionnaire's groups (R4: a group's
// answers are nested items; display items carry no answer and are left out).
import type { AnswerValue, Answers, QuestionnaireItem } from './definition.ts';

export type ResponseItem = { linkId: string; text?: string; answer?: Array<Record<string, unknown>>; item?: ResponseItem[] };

/** An answer as FHIR R4 QuestionnaireResponse.item.answer. */
export function fhirAnswer(item: QuestionnaireItem, answer: AnswerValue): Record<string, unknown> {
  switch (answer.type) {
    case 'boolean':
      return { valueBoolean: answer.value };
    case 'coding':
      return { valueCoding: { ...answer.value } };
    case 'string':
      return { valueString: answer.value };
    case 'integer':
      return { valueInteger: answer.value };
    case 'decimal':
      return { valueDecimal: answer.value };
    case 'date':
      return { valueDate: answer.value };
    case 'attachment':
      // FHIR R4 Attachment, described and never embedded (no data): the bytes stay encrypted in the file
      // store, and staff open them from the conversation page. No url either: the staff download needs a
      // staff session, so a url in a response handed to another system would point at nothing it can open.
      return { valueAttachment: { contentType: answer.value.contentType, title: answer.value.title, size: answer.value.size, creation: answer.value.creation } };
    case 'quantity': {
      const unit = item.unit!;
      // UCUM codes (kg, cm) are what clinical systems show; other units read better by their display.
      const shown = unit.system === 'http://unitsofmeasure.org' ? unit.code : (unit.display ?? unit.code);
      // Loading refuses a quantity question whose unit has no code.
      return { valueQuantity: { value: answer.value, unit: shown, ...(unit.system !== undefined && { system: unit.system }), code: unit.code! } };
    }
  }
}

/**
 * The response items for the enabled items. keepEmpty keeps every enabled question and group even with
 * no answer, so FHIRPath expressions always find their context item (the response being calculated).
 */
export function responseItems(
  items: readonly QuestionnaireItem[],
  answers: Answers,
  enabled: ReadonlySet<string> | 'all',
  keepEmpty: boolean,
  nodes?: Map<string, ResponseItem>,
): ResponseItem[] {
  const result: ResponseItem[] = [];
  for (const item of items) {
    if (item.type === 'display') continue;
    if (enabled !== 'all' && !enabled.has(item.linkId)) continue;
    const node: ResponseItem = { linkId: item.linkId, ...(item.text !== undefined && { text: item.text }) };
    if (item.type === 'group') {
      const children = responseItems(item.items, answers, enabled, keepEmpty, nodes);
      if (children.length === 0 && !keepEmpty) continue;
      node.item = children;
    } else {
      const values = answers.get(item.linkId) ?? [];
      if (values.length === 0 && !keepEmpty) continue;
      if (values.length > 0) node.answer = values.map((v) => fhirAnswer(item, v));
    }
    nodes?.set(item.linkId, node);
    result.push(node);
  }
  return result;
}

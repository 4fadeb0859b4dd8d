// SDC calculatedExpression and variable, evaluated with fhirpath.js (HL7's FHIRPath engine) against the
// response being built, on the server. A browser's value for a calculated item is never used.
//
// Context: an expression on the questionnaire is evaluated on the response; one on an item is evaluated
// on that item's node in the response (%context), as SDC defines. %resource and %rootResource are the
// response, %questionnaire the questionnaire (where ordinal() finds each option's ordinalValue).
// Synchronous evaluation only: functions that would reach a terminology server (memberOf, resolve,
// ordinal() of a code system outside the questionnaire) throw, so they are refused when the
// questionnaire is loaded.
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { allItems, isRealDate, type AnswerValue, type Answers, type Problem, type QuestionnaireDefinition, type QuestionnaireItem, ROOT } from './definition.ts';
import { enabledItems, sameAnswer } from './enable-when.ts';
import { responseItems, type ResponseItem } from './response-items.ts';

type Evaluator = (resource: unknown, env: Record<string, unknown>, options?: { resolveInternalTypes?: boolean }) => unknown[];

export interface CompiledExpression {
  /** The variable's name (variables only). */
  name?: string;
  expression: string;
  evaluate: Evaluator;
}

/** Compiles a FHIRPath expression, or says why it cannot be read. */
export function compileExpression(expression: string, name: string | undefined, atRoot: boolean): CompiledExpression | string {
  try {
    const path = atRoot ? expression : { base: 'QuestionnaireResponse.item', expression };
    const compiled = fhirpath.compile(path, r4, { async: false }) as unknown as Evaluator;
    return { ...(name !== undefined && { name }), expression, evaluate: compiled };
  } catch (error) {
    return firstLine(error);
  }
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);

export interface CalculationFailure {
  linkId: string;
  message: string;
}

interface Scope {
  response: Record<string, unknown>;
  nodes: Map<string, ResponseItem>;
}

class Evaluation {
  private readonly scopes = new Map<string, Record<string, unknown>>();
  private readonly definition: QuestionnaireDefinition;
  private readonly scope: Scope;
  constructor(definition: QuestionnaireDefinition, scope: Scope) {
    this.definition = definition;
    this.scope = scope;
  }

  private base(): Record<string, unknown> {
    const response = this.scope.response;
    return { resource: response, rootResource: response, questionnaire: this.definition.resource };
  }

  /** The variables visible to an item: the questionnaire's, its ancestors', then its own, in order. */
  variables(item: QuestionnaireItem | undefined): Record<string, unknown> {
    const key = item?.linkId ?? ROOT;
    const known = this.scopes.get(key);
    if (known) return known;
    const parent = item?.parentLinkId ? this.definition.byLinkId.get(item.parentLinkId) : undefined;
    const inherited = item ? this.variables(parent) : this.base();
    const own = { ...inherited };
    for (const variable of item ? item.variables : this.definition.variables) {
      own[variable.name!] = this.run(variable, item, own, false);
    }
    this.scopes.set(key, own);
    return own;
  }

  run(expression: CompiledExpression, item: QuestionnaireItem | undefined, env: Record<string, unknown>, resolve: boolean): unknown[] {
    const node = item ? this.scope.nodes.get(item.linkId) : this.scope.response;
    if (!node) return [];
    return expression.evaluate(node, { ...env, context: node }, { resolveInternalTypes: resolve });
  }

  calculated(item: QuestionnaireItem): unknown[] {
    return this.run(item.calculatedExpression!, item, this.variables(item), true);
  }
}

function workingResponse(definition: QuestionnaireDefinition, answers: Answers, enabled: ReadonlySet<string> | 'all'): Scope {
  const nodes = new Map<string, ResponseItem>();
  const item = responseItems(definition.items, answers, enabled, true, nodes);
  return { response: { resourceType: 'QuestionnaireResponse', status: 'in-progress', questionnaire: `${definition.url}|${definition.version}`, item }, nodes };
}

/** Tries every expression on an empty response, so one the engine cannot evaluate refuses the questionnaire. */
export function tryExpressions(definition: QuestionnaireDefinition): Problem[] {
  const problems: Problem[] = [];
  const evaluation = new Evaluation(definition, workingResponse(definition, new Map(), 'all'));
  const attempt = (linkId: string, what: string, expression: string, fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      problems.push({ linkId, message: `${what} "${expression}" cannot be evaluated: ${firstLine(error)}` });
    }
  };
  for (const variable of definition.variables) {
    attempt(ROOT, `variable ${variable.name}`, variable.expression, () => evaluation.variables(undefined));
    if (problems.length > 0) return problems;
  }
  for (const item of allItems(definition.items)) {
    const failed = problems.length;
    for (const variable of item.variables) {
      attempt(item.linkId, `variable ${variable.name}`, variable.expression, () => evaluation.variables(item));
      if (problems.length > failed) break;
    }
    if (item.calculatedExpression && problems.length === failed) {
      attempt(item.linkId, 'calculatedExpression', item.calculatedExpression.expression, () => evaluation.calculated(item));
    }
  }
  return problems;
}

/** A FHIRPath result as the answers of a calculated item, or the reason it cannot be one. */
export function toAnswers(item: QuestionnaireItem, result: unknown[]): AnswerValue[] | string {
  if (result.length === 0) return [];
  if (result.length > 1 && !item.repeats) return `gave ${result.length} values for a question with one answer`;
  const answers: AnswerValue[] = [];
  const round = (n: number) => (item.maxDecimalPlaces === undefined ? n : Number(n.toFixed(item.maxDecimalPlaces)));
  for (const raw of result) {
    const number = typeof raw === 'number' ? raw : typeof raw === 'object' && raw !== null && typeof (raw as { value?: unknown }).value === 'number' ? (raw as { value: number }).value : undefined;
    switch (item.type) {
      case 'integer': {
        if (number === undefined || !Number.isFinite(number)) return `gave ${JSON.stringify(raw)}, not a number`;
        const whole = Math.round(number);
        if (Math.abs(whole - number) > 1e-9) return `gave ${number}, not a whole number`;
        answers.push({ type: 'integer', value: whole });
        break;
      }
      case 'decimal':
      case 'quantity':
        if (number === undefined || !Number.isFinite(number)) return `gave ${JSON.stringify(raw)}, not a number`;
        answers.push({ type: item.type, value: round(number) });
        break;
      case 'boolean':
        if (typeof raw !== 'boolean') return `gave ${JSON.stringify(raw)}, not true or false`;
        answers.push({ type: 'boolean', value: raw });
        break;
      case 'string':
      case 'text':
        if (typeof raw !== 'string' && typeof raw !== 'number') return `gave ${JSON.stringify(raw)}, not text`;
        answers.push({ type: 'string', value: String(raw) });
        break;
      case 'date':
        if (typeof raw !== 'string' || !isRealDate(raw)) return `gave ${JSON.stringify(raw)}, not a date`;
        answers.push({ type: 'date', value: raw });
        break;
      case 'choice':
      case 'open-choice': {
        const code = typeof raw === 'object' && raw !== null ? (raw as { code?: unknown; system?: unknown }) : undefined;
        const option = item.options.find((o) =>
          o.value.type === 'coding' && code ? o.value.value.code === code.code && (code.system === undefined || code.system === o.value.value.system) : o.value.type !== 'coding' && o.value.value === raw,
        );
        if (option) answers.push(option.value);
        else if (item.type === 'open-choice' && typeof raw === 'string') answers.push({ type: 'string', value: raw });
        else return `gave ${JSON.stringify(raw)}, which is not one of the answer options`;
        break;
      }
      default:
        return `cannot answer a ${item.type} item`;
    }
  }
  return answers;
}

export interface Resolved {
  /** The answers that belong in the response: enabled items only, calculated values recomputed. */
  answers: Map<string, AnswerValue[]>;
  enabled: Set<string>;
  failures: CalculationFailure[];
}

const sameValues = (a: readonly AnswerValue[] = [], b: readonly AnswerValue[] = []) => a.length === b.length && a.every((v, i) => sameAnswer(v, b[i]!));

/**
 * What the response holds for these answers from the patient. Only questions the patient answers take
 * the patient's answers; read-only and hidden items keep their initial values; calculated items are
 * computed. Calculations can enable items and enabled items feed calculations, so this repeats until
 * nothing changes.
 */
export function resolveAnswers(definition: QuestionnaireDefinition, fromPatient: Answers): Resolved {
  const calculatedItems = [...allItems(definition.items)].filter((i) => i.calculatedExpression);
  const fixed = new Map<string, AnswerValue[]>();
  for (const item of allItems(definition.items)) {
    if (item.type === 'group' || item.type === 'display' || item.calculatedExpression) continue;
    const patientAnswers = !item.readOnly && !item.hidden;
    const values = patientAnswers ? fromPatient.get(item.linkId) : item.initial;
    if (values && values.length > 0) fixed.set(item.linkId, [...values]);
  }
  let calculated = new Map<string, AnswerValue[]>();
  let failures: CalculationFailure[] = [];
  const merged = () => new Map([...fixed, ...calculated]);
  for (let pass = 0; pass <= calculatedItems.length + 1; pass++) {
    const current = merged();
    const enabled = enabledItems(definition, current);
    const working = new Map([...current].filter(([linkId]) => enabled.has(linkId)));
    const next = new Map<string, AnswerValue[]>();
    failures = [];
    for (const item of calculatedItems) {
      if (!enabled.has(item.linkId)) continue;
      let outcome: AnswerValue[] | string;
      try {
        const evaluation = new Evaluation(definition, workingResponse(definition, working, enabled));
        outcome = toAnswers(item, evaluation.calculated(item));
      } catch (error) {
        outcome = firstLine(error);
      }
      if (typeof outcome === 'string') {
        failures.push({ linkId: item.linkId, message: `calculatedExpression ${outcome}` });
        working.delete(item.linkId);
        continue;
      }
      if (outcome.length > 0) {
        next.set(item.linkId, outcome);
        working.set(item.linkId, outcome);
      } else working.delete(item.linkId);
    }
    const stable = next.size === calculated.size && [...next].every(([linkId, values]) => sameValues(values, calculated.get(linkId)));
    calculated = next;
    if (stable) break;
  }
  const all = merged();
  const enabled = enabledItems(definition, all);
  return { answers: new Map([...all].filter(([linkId]) => enabled.has(linkId))), enabled, failures };
}

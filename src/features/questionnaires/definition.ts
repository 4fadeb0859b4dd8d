// Loading a FHIR R4 Questionnaire into a definition the engine can run, or refusing it with every
// reason at once (issue 11). Loading is strict on purpose: anything the engine does not implement, and
// that could change what a valid answer is, refuses the whole questionnaire, so a patient is never
// shown one that half works. The checks run once, when a questionnaire is added, not per patient.
import { z } from 'zod';
import { compileExpression, tryExpressions, type CompiledExpression } from './calculations.ts';
import { BEHAVIOUR, EXPRESSION_LANGUAGE, HINTS, REFUSED, REFUSED_ITEM_TYPES, SUPPORTED_ITEM_TYPES, URL } from './supported.ts';

export type ItemType = (typeof SUPPORTED_ITEM_TYPES)[number];
export type QuestionType = Exclude<ItemType, 'group' | 'display'>;

export interface Coding {
  system?: string;
  code: string;
  display?: string;
}

/**
 * A file given as an attachment answer: the files row it is (taken in, checked and scanned like every
 * patient attachment) and what FHIR's Attachment says of it. Kept in the answer, not looked up, so the
 * QuestionnaireResponse is built from the answers alone; the bytes are never in it.
 */
export interface AnsweredFile {
  fileId: string;
  contentType: string;
  /** The file's name as the patient's device gave it (cleaned). */
  title: string;
  size: number;
  /** When it was taken in (ISO 8601). */
  creation: string;
}

/** One answer, typed by the question it answers. A quantity's unit is always the question's own unit. */
export type AnswerValue =
  | { type: 'attachment'; value: AnsweredFile }
  | { type: 'boolean'; value: boolean }
  | { type: 'coding'; value: Coding }
  | { type: 'string'; value: string }
  | { type: 'integer'; value: number }
  | { type: 'decimal'; value: number }
  | { type: 'quantity'; value: number }
  | { type: 'date'; value: string };

/** Answers by linkId. Items never repeat within a response (repeating groups are refused), so linkIds are unique. */
export type Answers = ReadonlyMap<string, readonly AnswerValue[]>;

/** A unit: UCUM (system and code) for quantities; a decimal's unit may be words only ("{score}"). */
export interface Unit {
  system?: string;
  code?: string;
  display?: string;
}

export interface AnswerOption {
  /** What the browser posts for this option: its code (or string, or integer). Unique within the item. */
  key: string;
  value: Extract<AnswerValue, { type: 'coding' | 'string' | 'integer' }>;
  label: string;
  ordinal?: number;
  /** SDC optionExclusive: "None of these" style, cannot be chosen with another option. */
  exclusive: boolean;
  initialSelected: boolean;
}

export const OPERATORS = ['exists', '=', '!=', '>', '<', '>=', '<='] as const;
export type Operator = (typeof OPERATORS)[number];

export type EnableWhenCondition =
  | { question: string; operator: 'exists'; exists: boolean }
  | { question: string; operator: Exclude<Operator, 'exists'>; answer: AnswerValue };

export interface QuestionnaireItem {
  linkId: string;
  type: ItemType;
  text?: string;
  prefix?: string;
  code: Coding[];
  required: boolean;
  repeats: boolean;
  readOnly: boolean;
  hidden: boolean;
  maxLength?: number;
  minLength?: number;
  maxDecimalPlaces?: number;
  minOccurs?: number;
  maxOccurs?: number;
  /** A number (integer, decimal, quantity in the item's unit) or a date (YYYY-MM-DD). */
  minValue?: number | string;
  maxValue?: number | string;
  unit?: Unit;
  entryFormat?: string;
  /** SDC shortText: the noun phrase used in error messages ("your weight"). */
  shortText?: string;
  itemControl?: string;
  options: AnswerOption[];
  initial: AnswerValue[];
  enableWhen: EnableWhenCondition[];
  enableBehavior: 'all' | 'any';
  calculatedExpression?: CompiledExpression;
  variables: CompiledExpression[];
  items: QuestionnaireItem[];
  parentLinkId?: string;
}

export interface QuestionnaireDefinition {
  url: string;
  version: string;
  title?: string;
  name?: string;
  status: string;
  items: QuestionnaireItem[];
  variables: CompiledExpression[];
  byLinkId: ReadonlyMap<string, QuestionnaireItem>;
  /** Every linkId in document order. */
  order: readonly string[];
  /** The resource as given, with ordinal values copied onto answer options, for FHIRPath's %questionnaire. */
  resource: Record<string, unknown>;
}

export interface Problem {
  /** The item's linkId, or "questionnaire" for the resource itself. */
  linkId: string;
  message: string;
}

export type LoadResult = { ok: true; definition: QuestionnaireDefinition } | { ok: false; problems: Problem[] };

export const ROOT = 'questionnaire';

export const isQuestion = (item: QuestionnaireItem): boolean => item.type !== 'group' && item.type !== 'display';
/** A question the patient answers, as opposed to one the service fills in. */
export const isPatientAnswered = (item: QuestionnaireItem): boolean => isQuestion(item) && !item.readOnly && !item.hidden && !item.calculatedExpression;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const ROOT_KEYS = [
  'resourceType', 'id', 'meta', 'language', 'text', 'contained', 'extension', 'modifierExtension', 'url', 'identifier', 'version', 'name', 'title',
  'derivedFrom', 'status', 'experimental', 'subjectType', 'date', 'publisher', 'contact', 'description', 'useContext', 'jurisdiction', 'purpose',
  'copyright', 'approvalDate', 'lastReviewDate', 'effectivePeriod', 'code', 'item', 'implicitRules',
];
const ITEM_KEYS = [
  'id', 'extension', 'modifierExtension', 'linkId', 'definition', 'code', 'prefix', 'text', 'type', 'enableWhen', 'enableBehavior', 'required',
  'repeats', 'readOnly', 'maxLength', 'answerValueSet', 'answerOption', 'initial', 'item',
];

const codingSchema = z.looseObject({ system: z.string().optional(), code: z.string().min(1), display: z.string().optional() });
const unitSchema = z
  .looseObject({ system: z.string().optional(), code: z.string().min(1).optional(), display: z.string().min(1).optional() })
  .refine((u) => u.code !== undefined || u.display !== undefined);
const itemShape = z.looseObject({
  linkId: z
    .string()
    .min(1, 'linkId must not be empty')
    // Answers are kept in JSON objects keyed by linkId: these names are the objects' own machinery, so an
    // answer under one would be lost and a required question could never be completed.
    .refine((id) => !['__proto__', 'constructor', 'prototype'].includes(id), 'linkId must not be __proto__, constructor or prototype'),
  type: z.string(),
  text: z.string().optional(),
  prefix: z.string().optional(),
  code: z.array(codingSchema).optional(),
  required: z.boolean().optional(),
  repeats: z.boolean().optional(),
  readOnly: z.boolean().optional(),
  maxLength: z.number().int().positive().optional(),
  enableBehavior: z.enum(['all', 'any']).optional(),
  answerValueSet: z.string().optional(),
  enableWhen: z.array(z.looseObject({ question: z.string().min(1), operator: z.string() })).optional(),
  answerOption: z.array(z.looseObject({ initialSelected: z.boolean().optional() })).optional(),
  initial: z.array(z.looseObject({})).optional(),
  item: z.array(z.unknown()).optional(),
  extension: z.array(z.looseObject({ url: z.string() })).optional(),
});
const rootShape = z.looseObject({
  resourceType: z.literal('Questionnaire', 'resourceType must be "Questionnaire"'),
  url: z.string({ error: 'needs a url (Questionnaire.url), so responses can say what they answer' }).min(1),
  version: z.string({ error: 'needs a version (Questionnaire.version), so each response records which version it answered' }).min(1),
  status: z.enum(['draft', 'active', 'retired', 'unknown'], 'status must be draft, active, retired or unknown'),
  title: z.string().optional(),
  name: z.string().optional(),
  item: z.array(z.unknown()).min(1, 'has no items'),
  contained: z.array(z.looseObject({ resourceType: z.string() })).optional(),
  extension: z.array(z.looseObject({ url: z.string() })).optional(),
});

const shortName = (url: string) => url.slice(url.lastIndexOf('/') + 1);

class Loader {
  readonly problems: Problem[] = [];
  /** Extension objects the loader has read: a behaviour extension anywhere else is refused. */
  readonly consumed = new WeakSet<object>();
  readonly byLinkId = new Map<string, QuestionnaireItem>();
  readonly order: string[] = [];
  readonly rawByLinkId = new Map<string, Json>();
  readonly valueSets = new Map<string, Json>();

  problem(linkId: string, message: string) {
    if (!this.problems.some((p) => p.linkId === linkId && p.message === message)) this.problems.push({ linkId, message });
  }

  zodProblems(linkId: string, error: z.ZodError) {
    for (const issue of error.issues) {
      const at = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      this.problem(linkId, `${at}${issue.message}`);
    }
  }

  extensions(node: Json, urls: string | readonly string[]): Json[] {
    const wanted = typeof urls === 'string' ? [urls] : urls;
    const list = Array.isArray(node.extension) ? (node.extension as unknown[]) : [];
    const found = list.filter((e): e is Json => isObject(e) && typeof e.url === 'string' && wanted.includes(e.url));
    for (const e of found) this.consumed.add(e);
    return found;
  }

  single(linkId: string, node: Json, url: string | readonly string[]): Json | undefined {
    const found = this.extensions(node, url);
    if (found.length > 1) this.problem(linkId, `${shortName(found[0]!.url as string)} is given more than once`);
    return found[0];
  }

  /** Extensions and modifier extensions anywhere under node, except in nested items (checked as themselves). */
  checkExtensions(node: unknown, linkId: string, depth = 0) {
    if (depth > MAX_DEPTH) {
      this.problem(linkId, `is nested more than ${MAX_DEPTH} levels deep`);
      return;
    }
    if (Array.isArray(node)) {
      for (const child of node) this.checkExtensions(child, linkId, depth + 1);
      return;
    }
    if (!isObject(node)) return;
    if (Array.isArray(node.modifierExtension) && node.modifierExtension.length > 0) {
      const urls = node.modifierExtension.map((e) => (isObject(e) && typeof e.url === 'string' ? e.url : '?')).join(', ');
      this.problem(linkId, `modifierExtension is not supported (${urls}): it could change the meaning of the question`);
    }
    for (const [key, value] of Object.entries(node)) {
      if (key === 'item' || key === 'contained' || key === 'modifierExtension') continue;
      if (key === 'extension' && Array.isArray(value)) {
        for (const e of value) this.checkExtension(e, linkId);
        continue;
      }
      this.checkExtensions(value, linkId, depth + 1);
    }
  }

  checkExtension(e: unknown, linkId: string) {
    if (!isObject(e) || typeof e.url !== 'string') {
      this.problem(linkId, 'an extension has no url');
      return;
    }
    const url = e.url;
    if (HINTS.includes(url)) return;
    if (BEHAVIOUR.includes(url)) {
      if (!this.consumed.has(e)) this.problem(linkId, `${shortName(url)} is not supported in this place`);
      return;
    }
    const reason = REFUSED[url];
    this.problem(linkId, reason ?? `unknown extension ${url}`);
  }

  /** value[x] (or answer[x]) of a FHIR element: the type suffix and the value. */
  typed(node: Json, prefix: 'value' | 'answer'): { kind: string; raw: unknown }[] {
    return Object.keys(node)
      .filter((k) => k.startsWith(prefix) && k.length > prefix.length && /^[A-Z]/.test(k.slice(prefix.length)))
      .map((k) => ({ kind: k.slice(prefix.length), raw: node[k] }));
  }

  /** A FHIR value as an answer to item, or the reason it cannot be one. */
  fit(item: QuestionnaireItem, kind: string, raw: unknown, forEnableWhen = false): AnswerValue | string {
    const wrong = `a ${kind} does not fit a ${item.type} question`;
    switch (item.type) {
      case 'boolean':
        return kind === 'Boolean' && typeof raw === 'boolean' ? { type: 'boolean', value: raw } : wrong;
      case 'integer':
        if (kind === 'Integer' && Number.isInteger(raw)) return { type: 'integer', value: raw as number };
        if (forEnableWhen && kind === 'Decimal' && typeof raw === 'number') return { type: 'decimal', value: raw };
        return wrong;
      case 'decimal':
        return (kind === 'Decimal' || kind === 'Integer') && typeof raw === 'number' && Number.isFinite(raw) ? { type: 'decimal', value: raw } : wrong;
      case 'date':
        return kind === 'Date' && typeof raw === 'string' && isRealDate(raw) ? { type: 'date', value: raw } : kind === 'Date' ? `${String(raw)} is not a full date (YYYY-MM-DD)` : wrong;
      case 'string':
      case 'text':
        return kind === 'String' && typeof raw === 'string' ? { type: 'string', value: raw } : wrong;
      case 'quantity': {
        if (kind !== 'Quantity' || !isObject(raw) || typeof raw.value !== 'number') return wrong;
        const unit = item.unit;
        const sameUnit = unit && (raw.code === undefined ? raw.unit === undefined || raw.unit === unit.code || raw.unit === unit.display : raw.code === unit.code);
        return sameUnit ? { type: 'quantity', value: raw.value } : `the quantity's unit (${String(raw.code ?? raw.unit)}) is not the question's unit`;
      }
      case 'choice':
      case 'open-choice': {
        const option = item.options.find((o) => {
          if (kind === 'Coding' && isObject(raw) && o.value.type === 'coding') {
            return o.value.value.code === raw.code && (raw.system === undefined || raw.system === o.value.value.system);
          }
          if (kind === 'String' && o.value.type === 'string') return o.value.value === raw;
          if (kind === 'Integer' && o.value.type === 'integer') return o.value.value === raw;
          return false;
        });
        if (option) return option.value;
        if (item.type === 'open-choice' && kind === 'String' && typeof raw === 'string') return { type: 'string', value: raw };
        if (kind === 'Coding' || kind === 'String' || kind === 'Integer') return `${JSON.stringify(raw)} is not one of the answer options`;
        return wrong;
      }
      default:
        return wrong;
    }
  }

  options(linkId: string, raw: Json, type: string): AnswerOption[] {
    const options: AnswerOption[] = [];
    const fromOption = (node: Json, value: AnswerValue, initialSelected: boolean, ordinalHolders: Json[]) => {
      if (value.type !== 'coding' && value.type !== 'string' && value.type !== 'integer') return;
      const key = value.type === 'coding' ? value.value.code : String(value.value);
      if (key === OTHER_OPTION) this.problem(linkId, `an answer option may not be "${OTHER_OPTION}"`);
      if (options.some((o) => o.key === key)) this.problem(linkId, `two answer options have the same code or value "${key}"`);
      const ordinals = ordinalHolders.flatMap((h) => this.extensions(h, [URL.ordinalValue, URL.itemWeight]));
      const ordinal = ordinals.map((o) => o.valueDecimal ?? o.valueInteger).find((v) => typeof v === 'number') as number | undefined;
      if (ordinals.length > 0 && ordinal === undefined) this.problem(linkId, `the ordinal value of option "${key}" is not a number`);
      const exclusive = this.extensions(node, URL.optionExclusive).some((e) => e.valueBoolean === true);
      const label = value.type === 'coding' ? (value.value.display ?? value.value.code) : String(value.value);
      options.push({ key, value, label, ordinal, exclusive, initialSelected });
    };
    if (Array.isArray(raw.answerOption)) {
      if (type !== 'choice' && type !== 'open-choice') this.problem(linkId, `answerOption is only supported on choice and open-choice questions, not ${type}`);
      for (const node of raw.answerOption as Json[]) {
        const values = this.typed(node, 'value');
        const [first] = values;
        if (values.length !== 1 || !first) {
          this.problem(linkId, 'an answer option needs exactly one value');
          continue;
        }
        let value: AnswerValue | undefined;
        if (first.kind === 'Coding') {
          const coding = codingSchema.safeParse(first.raw);
          if (coding.success) value = { type: 'coding', value: pickCoding(coding.data) };
        } else if (first.kind === 'String' && typeof first.raw === 'string' && first.raw !== '') value = { type: 'string', value: first.raw };
        else if (first.kind === 'Integer' && Number.isInteger(first.raw)) value = { type: 'integer', value: first.raw as number };
        if (!value) {
          this.problem(linkId, `answer option value${first.kind} is not supported (valueCoding, valueString and valueInteger are)`);
          continue;
        }
        const holders = [node, ...(first.kind === 'Coding' && isObject(first.raw) ? [first.raw] : [])];
        fromOption(node, value, node.initialSelected === true, holders);
      }
    }
    if (typeof raw.answerValueSet === 'string') {
      if (options.length > 0) this.problem(linkId, 'has both answerOption and answerValueSet');
      const reference = raw.answerValueSet;
      const valueSet = reference.startsWith('#') ? this.valueSets.get(reference.slice(1)) : undefined;
      if (!reference.startsWith('#')) {
        this.problem(linkId, `answer value set ${reference} is not contained in the questionnaire: only contained value sets ("#id") are supported`);
      } else if (!valueSet) {
        this.problem(linkId, `there is no contained ValueSet with id "${reference.slice(1)}"`);
      } else {
        for (const concept of this.valueSetConcepts(linkId, valueSet)) {
          fromOption(concept.node, { type: 'coding', value: concept.coding }, false, [concept.node]);
        }
        this.checkExtensions(valueSet, linkId);
      }
    }
    return options;
  }

  valueSetConcepts(linkId: string, valueSet: Json): { coding: Coding; node: Json }[] {
    const id = String(valueSet.id);
    const concepts: { coding: Coding; node: Json }[] = [];
    const expansion = isObject(valueSet.expansion) && Array.isArray(valueSet.expansion.contains) ? (valueSet.expansion.contains as unknown[]) : undefined;
    if (expansion) {
      const walk = (list: unknown[]) => {
        for (const node of list) {
          if (!isObject(node)) continue;
          if (node.abstract !== true && typeof node.code === 'string') {
            concepts.push({ node, coding: pickCoding({ system: node.system as string | undefined, code: node.code, display: node.display as string | undefined }) });
          }
          if (Array.isArray(node.contains)) walk(node.contains);
        }
      };
      walk(expansion);
      return concepts;
    }
    const compose = isObject(valueSet.compose) ? valueSet.compose : undefined;
    if (!compose || !Array.isArray(compose.include)) {
      this.problem(linkId, `value set #${id} lists no codes (compose.include.concept or expansion.contains)`);
      return concepts;
    }
    if (compose.exclude !== undefined) this.problem(linkId, `value set #${id} uses compose.exclude, which is not supported`);
    for (const include of compose.include as unknown[]) {
      if (!isObject(include) || !Array.isArray(include.concept) || include.filter !== undefined || include.valueSet !== undefined) {
        this.problem(linkId, `value set #${id} must list its codes (compose.include.concept): filters and other value sets are not supported`);
        continue;
      }
      for (const node of include.concept as unknown[]) {
        if (isObject(node) && typeof node.code === 'string') {
          concepts.push({ node, coding: pickCoding({ system: include.system as string | undefined, code: node.code, display: node.display as string | undefined }) });
        }
      }
    }
    return concepts;
  }

  expression(linkId: string, extension: Json, what: string, needsName: boolean): CompiledExpression | undefined {
    const value = extension.valueExpression;
    if (!isObject(value)) {
      this.problem(linkId, `${what} needs a valueExpression`);
      return undefined;
    }
    const { language, expression, name } = value;
    if (language === 'application/x-fhir-query') {
      this.problem(linkId, `${what} uses x-fhir-query, which is not supported (only ${EXPRESSION_LANGUAGE})`);
      return undefined;
    }
    if (language !== EXPRESSION_LANGUAGE) {
      this.problem(linkId, `${what} is in ${String(language)}, which is not supported (only ${EXPRESSION_LANGUAGE})`);
      return undefined;
    }
    if (typeof expression === 'string' && expression.length > MAX_EXPRESSION_LENGTH) {
      this.problem(linkId, `${what} is longer than ${MAX_EXPRESSION_LENGTH} characters`);
      return undefined;
    }
    if (typeof expression !== 'string' || expression.trim() === '') {
      this.problem(linkId, `${what} has no expression (a reference to a library is not supported)`);
      return undefined;
    }
    if (needsName && (typeof name !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(name))) {
      this.problem(linkId, `${what} needs a name made of letters, digits and _`);
      return undefined;
    }
    if (needsName && RESERVED_VARIABLES.includes(name as string)) {
      this.problem(linkId, `variable name "${String(name)}" is reserved`);
      return undefined;
    }
    const compiled = compileExpression(expression, typeof name === 'string' ? name : undefined, linkId === ROOT);
    if (typeof compiled === 'string') {
      this.problem(linkId, `${what} "${expression}" cannot be read: ${compiled}`);
      return undefined;
    }
    return compiled;
  }

  variables(linkId: string, node: Json): CompiledExpression[] {
    const result: CompiledExpression[] = [];
    for (const e of this.extensions(node, URL.variable)) {
      const compiled = this.expression(linkId, e, 'variable', true);
      if (!compiled) continue;
      if (result.some((v) => v.name === compiled.name)) this.problem(linkId, `variable "${compiled.name}" is defined twice`);
      result.push(compiled);
    }
    return result;
  }

  bound(linkId: string, item: QuestionnaireItem, extension: Json | undefined, which: string): number | string | undefined {
    if (!extension) return undefined;
    const values = this.typed(extension, 'value');
    const [only] = values;
    if (!only) return undefined;
    if (item.type === 'date' && only.kind === 'Date' && typeof only.raw === 'string' && isRealDate(only.raw)) return only.raw;
    if ((item.type === 'integer' || item.type === 'decimal' || item.type === 'quantity') && (only.kind === 'Integer' || only.kind === 'Decimal') && typeof only.raw === 'number') {
      return only.raw;
    }
    this.problem(linkId, `${which} value${only.kind} does not fit a ${item.type} question`);
    return undefined;
  }

  integerExtension(linkId: string, node: Json, url: string, name: string, min = 0): number | undefined {
    const e = this.single(linkId, node, url);
    if (!e) return undefined;
    if (!Number.isInteger(e.valueInteger) || (e.valueInteger as number) < min) {
      this.problem(linkId, `${name} must be a whole number of at least ${min}`);
      return undefined;
    }
    return e.valueInteger as number;
  }

  item(raw: unknown, parent: QuestionnaireItem | undefined, index: number, depth = 1): QuestionnaireItem | undefined {
    const provisionalId = isObject(raw) && typeof raw.linkId === 'string' && raw.linkId !== '' ? raw.linkId : `${parent ? parent.linkId : ROOT} item ${index + 1}`;
    // Limits keep a hostile or broken upload from exhausting the stack or the CPU.
    if (depth > MAX_ITEM_DEPTH) {
      this.problem(provisionalId, `items are nested more than ${MAX_ITEM_DEPTH} deep`);
      return undefined;
    }
    if (this.order.length >= MAX_ITEMS) {
      this.problem(ROOT, `has more than ${MAX_ITEMS} items`);
      return undefined;
    }
    const shape = itemShape.safeParse(raw);
    if (!shape.success) {
      this.zodProblems(provisionalId, shape.error);
      return undefined;
    }
    const node = shape.data as Json & z.infer<typeof itemShape>;
    const linkId = node.linkId;
    for (const key of Object.keys(node)) {
      const base = key.startsWith('_') ? key.slice(1) : key;
      if (!ITEM_KEYS.includes(base)) this.problem(linkId, `unknown element "${key}" (not FHIR R4 Questionnaire.item)`);
    }
    if (this.byLinkId.has(linkId) || this.rawByLinkId.has(linkId)) this.problem(linkId, 'linkId is used by more than one item');
    this.rawByLinkId.set(linkId, node);
    this.order.push(linkId);

    const supported = (SUPPORTED_ITEM_TYPES as readonly string[]).includes(node.type);
    if (!supported) {
      this.problem(linkId, `item type "${node.type}" is not supported: ${REFUSED_ITEM_TYPES[node.type] ?? 'unknown type'}`);
    }
    const type = (supported ? node.type : 'display') as ItemType;
    const item: QuestionnaireItem = {
      linkId,
      type,
      text: node.text,
      prefix: node.prefix,
      code: (node.code ?? []).map(pickCoding),
      required: node.required ?? false,
      repeats: node.repeats ?? false,
      readOnly: node.readOnly ?? false,
      hidden: false,
      maxLength: node.maxLength,
      options: [],
      initial: [],
      enableWhen: [],
      enableBehavior: node.enableBehavior ?? 'all',
      variables: [],
      items: [],
      parentLinkId: parent?.linkId,
    };
    const question = supported && isQuestion(item);

    item.hidden = this.single(linkId, node, URL.hidden)?.valueBoolean === true;
    const unit = this.single(linkId, node, URL.unit);
    if (unit) {
      const coding = unitSchema.safeParse(unit.valueCoding);
      if (!coding.success) this.problem(linkId, 'questionnaire-unit needs a valueCoding with a code or a display');
      else if (type !== 'quantity' && type !== 'integer' && type !== 'decimal') this.problem(linkId, `questionnaire-unit does not fit a ${type} question`);
      else if (type === 'quantity' && coding.data.code === undefined) this.problem(linkId, 'the unit of a quantity question needs a code (UCUM)');
      else item.unit = { ...(coding.data.system !== undefined && { system: coding.data.system }), ...(coding.data.code !== undefined && { code: coding.data.code }), ...(coding.data.display !== undefined && { display: coding.data.display }) };
    }
    if (type === 'quantity' && !item.unit && supported) this.problem(linkId, 'a quantity question needs its unit (the questionnaire-unit extension)');
    item.entryFormat = stringExtension(this.single(linkId, node, URL.entryFormat));
    item.shortText = stringExtension(this.single(linkId, node, URL.shortText));
    const control = this.single(linkId, node, URL.itemControl);
    const controlCode = isObject(control?.valueCodeableConcept) && Array.isArray(control.valueCodeableConcept.coding) ? (control.valueCodeableConcept.coding[0] as Json | undefined)?.code : undefined;
    if (typeof controlCode === 'string') item.itemControl = controlCode;

    item.minValue = this.bound(linkId, item, this.single(linkId, node, URL.minValue), 'minValue');
    item.maxValue = this.bound(linkId, item, this.single(linkId, node, URL.maxValue), 'maxValue');
    for (const [url, which] of [[URL.minQuantity, 'minValue'], [URL.maxQuantity, 'maxValue']] as const) {
      const e = this.single(linkId, node, url);
      if (!e) continue;
      const fitted = isObject(e.valueQuantity) ? this.fit(item, 'Quantity', e.valueQuantity) : 'needs a valueQuantity';
      if (type !== 'quantity' || typeof fitted === 'string') this.problem(linkId, `${shortName(url)} ${typeof fitted === 'string' ? fitted : `does not fit a ${type} question`}`);
      else item[which] = fitted.value as number;
    }
    if (typeof item.minValue === 'number' && typeof item.maxValue === 'number' && item.minValue > item.maxValue) this.problem(linkId, 'minValue is greater than maxValue');
    if (typeof item.minValue === 'string' && typeof item.maxValue === 'string' && item.minValue > item.maxValue) this.problem(linkId, 'minValue is later than maxValue');
    item.minLength = this.integerExtension(linkId, node, URL.minLength, 'minLength', 1);
    item.maxDecimalPlaces = this.integerExtension(linkId, node, URL.maxDecimalPlaces, 'maxDecimalPlaces');
    item.minOccurs = this.integerExtension(linkId, node, URL.minOccurs, 'minOccurs');
    item.maxOccurs = this.integerExtension(linkId, node, URL.maxOccurs, 'maxOccurs', 1);
    if (item.maxDecimalPlaces !== undefined && type !== 'decimal' && type !== 'quantity') this.problem(linkId, `maxDecimalPlaces does not fit a ${type} question`);
    if ((item.maxLength !== undefined || item.minLength !== undefined) && !['string', 'text', 'open-choice'].includes(type)) {
      this.problem(linkId, `maxLength and minLength do not fit a ${type} question`);
    }
    if (item.minOccurs !== undefined && item.maxOccurs !== undefined && item.minOccurs > item.maxOccurs) this.problem(linkId, 'minOccurs is greater than maxOccurs');
    if (item.minOccurs !== undefined && item.minOccurs > 0) item.required = true;

    const calculated = this.single(linkId, node, URL.calculatedExpression);
    if (calculated) {
      // A file is the patient's to give: nothing can calculate one.
      if (!question || type === 'attachment') this.problem(linkId, `calculatedExpression does not fit a ${type} item`);
      else item.calculatedExpression = this.expression(linkId, calculated, 'calculatedExpression', false);
    }
    item.variables = this.variables(linkId, node);

    if (type === 'group' && item.repeats) this.problem(linkId, 'repeating groups are not supported yet');
    // An attachment question that repeats takes several files (up to ATTACHMENTS_PER_REPLY).
    if (item.repeats && question && type !== 'choice' && type !== 'open-choice' && type !== 'attachment') {
      this.problem(linkId, 'more than one answer is supported on choice and open-choice questions only (checkboxes)');
    }
    if (supported && !question && (node.initial !== undefined || node.answerOption !== undefined || node.answerValueSet !== undefined)) {
      this.problem(linkId, `a ${type} item cannot have answer options or initial values`);
    }
    if (supported) item.options = this.options(linkId, node, type);
    if ((type === 'choice' || type === 'open-choice') && item.options.length === 0 && typeof node.answerValueSet !== 'string') {
      this.problem(linkId, `${type === 'open-choice' ? 'an' : 'a'} ${type} question needs answer options (answerOption or a contained answerValueSet)`);
    }

    for (const initial of node.initial ?? []) {
      const values = this.typed(initial, 'value');
      const [only] = values;
      if (values.length !== 1 || !only) {
        this.problem(linkId, 'an initial value needs exactly one value');
        continue;
      }
      const fitted = question ? this.fit(item, only.kind, only.raw) : 'does not fit';
      if (typeof fitted === 'string') this.problem(linkId, `initial value: ${fitted}`);
      else item.initial.push(fitted);
    }
    for (const option of item.options.filter((o) => o.initialSelected)) item.initial.push(option.value);
    if (item.initial.length > 1 && !item.repeats) this.problem(linkId, 'has more than one initial value but does not repeat');

    this.byLinkId.set(linkId, item);
    for (const [i, child] of (node.item ?? []).entries()) {
      const parsed = this.item(child, item, i, depth + 1);
      if (!parsed) continue;
      if (question && parsed.type !== 'display') {
        this.problem(parsed.linkId, 'items nested under a question are not supported yet (only groups may contain questions)');
      }
      item.items.push(parsed);
    }
    if (type === 'group' && item.items.length === 0) this.problem(linkId, 'a group needs items');
    const { item: _items, ...own } = node;
    this.checkExtensions(own, linkId);
    return item;
  }

  /** enableWhen needs every item parsed first: it may point forwards. */
  enableWhen(item: QuestionnaireItem) {
    const raw = this.rawByLinkId.get(item.linkId)!;
    const conditions = (raw.enableWhen ?? []) as Json[];
    if (conditions.length > 1 && raw.enableBehavior === undefined) this.problem(item.linkId, 'enableBehavior (all or any) is required when there is more than one enableWhen');
    for (const condition of conditions) {
      const question = String(condition.question);
      const operator = String(condition.operator);
      const target = this.byLinkId.get(question);
      const answers = this.typed(condition, 'answer');
      const [only] = answers;
      if (!(OPERATORS as readonly string[]).includes(operator)) {
        this.problem(item.linkId, `enableWhen operator "${operator}" is not one of ${OPERATORS.join(' ')}`);
        continue;
      }
      if (!target) {
        this.problem(item.linkId, `enableWhen refers to "${question}", which is not an item of this questionnaire`);
        continue;
      }
      if (!isQuestion(target)) {
        this.problem(item.linkId, `enableWhen refers to "${question}", a ${target.type} item, which has no answer`);
        continue;
      }
      if (target.linkId === item.linkId) {
        this.problem(item.linkId, 'enableWhen refers to the item itself');
        continue;
      }
      if (answers.length !== 1 || !only) {
        this.problem(item.linkId, `enableWhen on "${question}" needs exactly one answer[x]`);
        continue;
      }
      if (operator === 'exists') {
        if (only.kind !== 'Boolean' || typeof only.raw !== 'boolean') this.problem(item.linkId, `enableWhen "exists" on "${question}" needs answerBoolean`);
        else item.enableWhen.push({ question, operator, exists: only.raw });
        continue;
      }
      const fitted = this.fit(target, only.kind, only.raw, true);
      if (typeof fitted === 'string') {
        this.problem(item.linkId, `enableWhen on "${question}": ${fitted}`);
        continue;
      }
      const ordered = fitted.type === 'integer' || fitted.type === 'decimal' || fitted.type === 'quantity' || fitted.type === 'date' || fitted.type === 'string';
      if (operator !== '=' && operator !== '!=' && !ordered) {
        this.problem(item.linkId, `enableWhen on "${question}": "${operator}" cannot compare a ${fitted.type} answer`);
        continue;
      }
      item.enableWhen.push({ question, operator: operator as Exclude<Operator, 'exists'>, answer: fitted });
    }
  }

  /** An item whose enabling depends on itself can never be decided. */
  enableWhenCycles() {
    const state = new Map<string, 'visiting' | 'done'>();
    const reported = new Set<string>();
    const visit = (linkId: string, path: string[]) => {
      if (state.get(linkId) === 'done') return;
      if (state.get(linkId) === 'visiting') {
        const cycle = path.slice(path.indexOf(linkId));
        if (!reported.has(linkId)) this.problem(linkId, `enableWhen goes round in a circle: ${[...cycle, linkId].join(' → ')}`);
        for (const id of cycle) reported.add(id);
        return;
      }
      state.set(linkId, 'visiting');
      const item = this.byLinkId.get(linkId)!;
      const next = [...item.enableWhen.map((c) => c.question), ...(item.parentLinkId ? [item.parentLinkId] : [])];
      for (const dependency of next) if (this.byLinkId.has(dependency)) visit(dependency, [...path, linkId]);
      state.set(linkId, 'done');
    };
    for (const linkId of this.order) if (this.byLinkId.has(linkId)) visit(linkId, []);
  }
}

const MAX_ITEMS = 1000;
const MAX_ITEM_DEPTH = 10;
const MAX_DEPTH = 40;
const MAX_EXPRESSION_LENGTH = 4000;

/** The browser's key for the "Other" answer of an open-choice question. */
export const OTHER_OPTION = '__other__';
const RESERVED_VARIABLES = ['resource', 'rootResource', 'questionnaire', 'context', 'ucum', 'sct', 'loinc', 'factory', 'terminologies', 'server'];

function pickCoding(coding: { system?: string; code: string; display?: string }): Coding {
  return { ...(coding.system !== undefined && { system: coding.system }), code: coding.code, ...(coding.display !== undefined && { display: coding.display }) };
}

function stringExtension(extension: Json | undefined): string | undefined {
  return typeof extension?.valueString === 'string' ? extension.valueString : undefined;
}

export function isRealDate(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * The resource FHIRPath sees as %questionnaire: every item's options written out as answerOption, each
 * with its ordinal value. fhirpath.js's ordinal() looks for ordinals on answerOption; one given on the
 * coding or in a contained value set's expansion would otherwise send it to a terminology server.
 */
function resourceForExpressions(json: Json, definition: Pick<QuestionnaireDefinition, 'byLinkId'>): Json {
  const copy = structuredClone(json);
  const walk = (items: unknown) => {
    if (!Array.isArray(items)) return;
    for (const raw of items) {
      if (!isObject(raw)) continue;
      const item = definition.byLinkId.get(String(raw.linkId));
      if (item && item.options.length > 0) {
        delete raw.answerValueSet;
        raw.answerOption = item.options.map((o) => ({
          ...(o.value.type === 'coding' ? { valueCoding: { ...o.value.value } } : o.value.type === 'string' ? { valueString: o.value.value } : { valueInteger: o.value.value }),
          ...(o.ordinal !== undefined && { extension: [{ url: URL.ordinalValue, valueDecimal: o.ordinal }] }),
        }));
      }
      walk(raw.item);
    }
  };
  walk(copy.item);
  return copy;
}

/** Loads a FHIR R4 Questionnaire (parsed JSON), or refuses it with every problem found. */
export function loadQuestionnaire(json: unknown): LoadResult {
  const loader = new Loader();
  const root = rootShape.safeParse(json);
  if (!root.success) {
    loader.zodProblems(ROOT, root.error);
    if (!isObject(json) || json.resourceType !== 'Questionnaire' || !Array.isArray(json.item)) return { ok: false, problems: loader.problems };
  }
  const resource = json as Json;
  for (const key of Object.keys(resource)) {
    const base = key.startsWith('_') ? key.slice(1) : key;
    if (!ROOT_KEYS.includes(base)) loader.problem(ROOT, `unknown element "${key}" (not FHIR R4 Questionnaire)`);
  }
  if (resource.implicitRules !== undefined) loader.problem(ROOT, 'implicitRules is not supported: it could change the meaning of the questionnaire');
  for (const contained of Array.isArray(resource.contained) ? resource.contained : []) {
    if (isObject(contained) && contained.resourceType === 'ValueSet' && typeof contained.id === 'string') loader.valueSets.set(contained.id, contained);
  }
  const variables = loader.variables(ROOT, resource);
  const items: QuestionnaireItem[] = [];
  for (const [i, raw] of (resource.item as unknown[]).entries()) {
    const item = loader.item(raw, undefined, i);
    if (item) items.push(item);
  }
  for (const item of loader.byLinkId.values()) loader.enableWhen(item);
  loader.enableWhenCycles();
  const { item: _items, contained: _contained, ...own } = resource;
  loader.checkExtensions(own, ROOT);
  if (loader.problems.length > 0) return { ok: false, problems: loader.problems };

  const base = { url: resource.url as string, version: resource.version as string, byLinkId: loader.byLinkId };
  const definition: QuestionnaireDefinition = {
    ...base,
    title: typeof resource.title === 'string' ? resource.title : undefined,
    name: typeof resource.name === 'string' ? resource.name : undefined,
    status: resource.status as string,
    items,
    variables,
    order: loader.order,
    resource: resourceForExpressions(resource, base),
  };
  const tried = tryExpressions(definition);
  if (tried.length > 0) return { ok: false, problems: tried };
  return { ok: true, definition };
}

/** Every item under items, depth first, in document order. */
export function* allItems(items: readonly QuestionnaireItem[]): Generator<QuestionnaireItem> {
  for (const item of items) {
    yield item;
    yield* allItems(item.items);
  }
}

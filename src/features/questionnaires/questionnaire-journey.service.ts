// The patient's way through a questionnaire: where they are, saving each page, and submitting once.
// Answers are kept on the server from the first Continue (questionnaire_responses); what the response
// holds is always worked out here from the patient's own answers — questions no longer enabled are
// dropped and calculated values recomputed — never taken from the browser.
import { createHash } from 'node:crypto';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { insertItem } from '../conversations/conversations.repository.ts';
import { lockConversationForLinks } from '../links/links.service.ts';
import type { KindConversation } from '../conversations/item-kinds.ts';
import { getPatient } from '../patients/patients.service.ts';
import { attachFiles, findConversationFile } from '../files/files.repository.ts';
import type { PatientAccess } from '../verification/patient-access.ts';
import { answersFromJson, answersToJson, validateAnswers, type AnswerError } from './answers.ts';
import { resolveAnswers } from './calculations.ts';
import { allItems, isPatientAnswered, type AnswerValue, type Answers, type QuestionnaireDefinition, type QuestionnaireItem } from './definition.ts';
import { enabledItems } from './enable-when.ts';
import { buildResponse, nhsNumberSubject, type QuestionnaireResponse } from './response.ts';
import { ensureResponse, findResponse, flagConversationUrgent, markSubmitted, saveAnswer, type StoredResponse } from './questionnaire-responses.repository.ts';
import { findQuestionnaire } from './questionnaires.service.ts';
import { URGENT_RULES, urgentFlags, type UrgentFlag } from './urgent-flags.ts';
import type { QuestionnairePayload } from './questionnaire.kind.ts';

/** The conversation item that records a submission (counted as something the patient sent). */
export const QUESTIONNAIRE_ANSWERS = 'questionnaire_answers';
/** The item staff "wrote" when sending: the questionnaire's title. */
export const QUESTIONNAIRE_REQUEST = 'questionnaire_request';

/**
 * The draft key an attachment question's files are kept under until the answers are submitted: one per
 * question (drafts are already scoped by conversation). Derived, not a one-time form key like a
 * reply's, because the answer is saved page by page and the files must still be the page's own when the
 * patient comes back to it, in another tab or the portal. Hashed so any linkId fits the key's alphabet.
 */
export function attachmentDraftKey(linkId: string): string {
  return `questionnaire-${createHash('sha256').update(linkId).digest('hex').slice(0, 40)}`;
}

/** The files the answers give, question by question. */
function answeredFiles(answers: Answers): Array<{ linkId: string; fileId: string }> {
  return [...answers].flatMap(([linkId, values]) => values.flatMap((v) => (v.type === 'attachment' ? [{ linkId, fileId: v.value.fileId }] : [])));
}

// Stored versions never change (migration 0010), so a loaded definition can be kept. Bounded: an
// organisation adding thousands of versions must not grow the process without limit.
const DEFINITION_CACHE_LIMIT = 500;
const definitions = new Map<string, QuestionnaireDefinition>();

/** The exact version the conversation sent. Missing is a fault (versions are never deleted). */
export async function definitionOf(services: Pick<Services, 'db'>, organisationId: string, payload: QuestionnairePayload): Promise<QuestionnaireDefinition> {
  const key = `${organisationId}\n${payload.url}\n${payload.version}`;
  const cached = definitions.get(key);
  if (cached) return cached;
  const found = await findQuestionnaire(services, organisationId, payload.url, payload.version);
  if (!found) throw new Error(`questionnaire ${payload.url}|${payload.version} of a conversation cannot be found`);
  if (definitions.size >= DEFINITION_CACHE_LIMIT) definitions.delete(definitions.keys().next().value!);
  definitions.set(key, found.definition);
  return found.definition;
}

export interface Journey {
  definition: QuestionnaireDefinition;
  /** The patient's own answers as stored (may include answers to questions no longer enabled). */
  answers: Map<string, AnswerValue[]>;
  revision: number;
  stored?: StoredResponse;
  submittedAt: Date | null;
}

export async function loadJourney(services: Pick<Services, 'db'>, conversation: KindConversation<QuestionnairePayload>['conversation']): Promise<Journey> {
  const [definition, stored] = await Promise.all([
    definitionOf(services, conversation.organisationId, conversation.payload),
    findResponse(services.db, conversation.id),
  ]);
  return {
    definition,
    answers: stored ? answersFromJson(definition, stored.answers) : new Map(),
    revision: stored?.revision ?? 0,
    ...(stored && { stored }),
    submittedAt: stored?.submittedAt ?? null,
  };
}

/** The questions the patient answers, in order, as the answers so far make them (enableWhen). */
export function questionSequence(definition: QuestionnaireDefinition, answers: Answers): QuestionnaireItem[] {
  const enabled = enabledItems(definition, answers);
  return [...allItems(definition.items)].filter((item) => isPatientAnswered(item) && enabled.has(item.linkId));
}

/**
 * The first question that stops the answers being sent (a required one unanswered, or a required
 * group with none of its questions answered). Optional questions left blank do not: Check your
 * answers lists them as "Not answered" with a Change link.
 */
export function firstMissing(definition: QuestionnaireDefinition, answers: Answers): QuestionnaireItem | undefined {
  const [problem] = validateAnswers(definition, answers);
  return problem ? definition.byLinkId.get(problem.linkId) : undefined;
}

/** Every question the patient could be asked, whatever they answer: for "about how long it takes". */
export function countQuestions(definition: QuestionnaireDefinition): number {
  return [...allItems(definition.items)].filter(isPatientAnswered).length;
}

export type PlaceInJourney = { at: 'question'; item: QuestionnaireItem } | { at: 'check' };

/**
 * Where Continue goes after a question: the next question in order, or Check your answers. Coming
 * from Check your answers (a Change link), straight back there unless the change brought in a
 * question not yet answered.
 */
export function afterQuestion(definition: QuestionnaireDefinition, answers: Answers, linkId: string, fromCheck: boolean): PlaceInJourney {
  if (fromCheck) {
    const missing = firstMissing(definition, answers);
    return missing ? { at: 'question', item: missing } : { at: 'check' };
  }
  const sequence = questionSequence(definition, answers);
  const index = sequence.findIndex((i) => i.linkId === linkId);
  const next = sequence[index + 1];
  return next ? { at: 'question', item: next } : { at: 'check' };
}

/** The question before this one as the answers stand (the back link), or undefined for the first. */
export function beforeQuestion(definition: QuestionnaireDefinition, answers: Answers, linkId: string): QuestionnaireItem | undefined {
  const sequence = questionSequence(definition, answers);
  const index = sequence.findIndex((i) => i.linkId === linkId);
  return index > 0 ? sequence[index - 1] : undefined;
}

/**
 * Whether the question is asked whatever the answers are: neither it nor any group it is in has an
 * enableWhen. Its page can then be saved without first reading the stored answers.
 */
export function askedWhateverTheAnswers(definition: QuestionnaireDefinition, item: QuestionnaireItem): boolean {
  for (let at: QuestionnaireItem | undefined = item; at; at = at.parentLinkId ? definition.byLinkId.get(at.parentLinkId) : undefined) {
    if (at.enableWhen.length > 0) return false;
  }
  return true;
}

/**
 * The urgent flags of the patient's answers, as urgentFlags of the resolved answers would give them.
 * Resolving runs every calculation (FHIRPath; about a millisecond for PHQ-9), so it is skipped when no
 * rule could hold: a rule's question the patient answers directly keeps the patient's answer or, when
 * not enabled, none, so a rule that holds for neither cannot hold for the resolved answers.
 */
function urgentFlagsOf(definition: QuestionnaireDefinition, answers: Answers): UrgentFlag[] {
  const mightHold = URGENT_RULES.some((rule) => {
    if (rule.questionnaireUrl !== definition.url) return false;
    const item = definition.byLinkId.get(rule.linkId);
    // Calculated, read-only or hidden: its resolved value is not the patient's answer.
    if (!item || !isPatientAnswered(item)) return true;
    return rule.holds(definition, answers.get(rule.linkId) ?? []) || rule.holds(definition, []);
  });
  return mightHold ? urgentFlags(definition, resolveAnswers(definition, answers).answers) : [];
}

/** What the response holds now: enabled answers only, calculations done. */
export function resolvedJourney(journey: Pick<Journey, 'definition' | 'answers'>) {
  const resolved = resolveAnswers(journey.definition, journey.answers);
  return { ...resolved, flags: urgentFlags(journey.definition, resolved.answers) };
}

export type SavePageResult = { saved: true; answers: Map<string, AnswerValue[]>; revision: number } | { saved: false; reason: 'submitted' };

/**
 * Saves one page's answer and records it in the audit trail (which question, never the answer). A
 * page that raises an urgent flag flags the conversation at once: staff should not wait for the
 * patient to reach Submit, or for a patient who never does.
 */
export async function saveQuestionPage(
  services: Services,
  input: { access: PatientAccess; definition: QuestionnaireDefinition; linkId: string; values: AnswerValue[] },
): Promise<SavePageResult> {
  const { access, definition } = input;
  const now = services.now();
  return services.db.transaction(async (tx) => {
    const row = await saveAnswer(tx, {
      conversationId: access.conversation.id,
      organisationId: access.organisation.id,
      questionnaireUrl: definition.url,
      questionnaireVersion: definition.version,
      linkId: input.linkId,
      values: input.values,
      now,
    });
    if (!row) return { saved: false, reason: 'submitted' } as const;
    const answers = answersFromJson(definition, row.answers);
    const flags = urgentFlagsOf(definition, answers);
    if (flags.length > 0) await flagConversationUrgent(tx, access.conversation.id, now);
    await recordAudit(tx, {
      type: 'questionnaire.page_saved',
      actor: access.actor,
      ...access.subject,
      details: { linkId: input.linkId, answered: input.values.length > 0, ...(flags.length > 0 && { urgent: flags.map((f) => f.linkId) }) },
    });
    return { saved: true, answers, revision: row.revision } as const;
  });
}

export type SubmitResult =
  | { kind: 'submitted'; flags: UrgentFlag[] }
  | { kind: 'already_submitted' }
  /** Another tab saved an answer after this Check your answers page was drawn: show it again. */
  | { kind: 'changed' }
  | { kind: 'invalid'; errors: AnswerError[] };

/**
 * Submits the answers shown on Check your answers (`revision`), once. The stored answers become the
 * final ones with questions that are no longer enabled removed; a conversation item records the
 * submission for the inbox, and the audit trail the submission.
 */
export async function submitQuestionnaire(
  services: Services,
  input: { access: PatientAccess; definition: QuestionnaireDefinition; revision: number },
): Promise<SubmitResult> {
  const { access, definition } = input;
  const now = services.now();
  return services.db.transaction(async (tx) => {
    // The reminder job takes the same lock and then checks for a submission: a reminder cannot be
    // queued for answers that were being sent at that moment.
    await lockConversationForLinks(tx, access.conversation.id);
    await ensureResponse(tx, {
      conversationId: access.conversation.id,
      organisationId: access.organisation.id,
      questionnaireUrl: definition.url,
      questionnaireVersion: definition.version,
      now,
    });
    const current = await findResponse(tx, access.conversation.id);
    if (!current) throw new Error('questionnaire response vanished inside its transaction');
    if (current.submittedAt) return { kind: 'already_submitted' } as const;
    if (current.revision !== input.revision) return { kind: 'changed' } as const;
    const answers = answersFromJson(definition, current.answers);
    const errors = validateAnswers(definition, answers);
    if (errors.length > 0) return { kind: 'invalid', errors } as const;
    const resolved = resolveAnswers(definition, answers);
    // Keep only the patient's answers to questions still enabled: calculated values are worked out
    // again whenever the response is built.
    const kept = new Map([...answers].filter(([linkId]) => resolved.enabled.has(linkId)));
    // Each file answered must still be that question's draft in this conversation: one removed in another
    // tab, or cleared by maintenance, sends the patient back to the question rather than sending a
    // response that names a file staff cannot open.
    const files = answeredFiles(kept);
    for (const { linkId, fileId } of files) {
      const file = await findConversationFile(tx, access.conversation.id, fileId);
      if (!file || file.itemId !== null || file.deletedAt !== null || file.draftKey !== attachmentDraftKey(linkId)) {
        return { kind: 'invalid', errors: [{ linkId, field: 'value', message: 'Add the file again' }] } as const;
      }
    }
    const submitted = await markSubmitted(tx, { conversationId: access.conversation.id, revision: input.revision, answers: answersToJson(kept), now });
    if (!submitted) return { kind: 'changed' } as const;
    const flags = urgentFlags(definition, resolved.answers);
    if (flags.length > 0) await flagConversationUrgent(tx, access.conversation.id, now);
    const item = await insertItem(tx, {
      conversationId: access.conversation.id,
      kind: QUESTIONNAIRE_ANSWERS,
      body: `Answers to ${definition.title ?? definition.name ?? 'the questionnaire'}`,
      payload: { questionnaire: `${definition.url}|${definition.version}`, urgent: flags.map((f) => f.linkId) },
      createdAt: now,
    });
    // The files become the answers item's: sent, so staff can open them (a draft never can).
    if (files.length > 0) {
      const attached = await attachFiles(tx, { fileIds: files.map((f) => f.fileId), conversationId: access.conversation.id, itemId: item!.id });
      if (attached !== files.length) throw new Error('questionnaire files changed inside the submission transaction');
    }
    await recordAudit(tx, {
      type: 'questionnaire.answered',
      actor: access.actor,
      ...access.subject,
      details: { questionnaire: `${definition.url}|${definition.version}`, questions: kept.size, urgent: flags.map((f) => f.linkId), ...(files.length > 0 && { files: files.length }) },
    });
    return { kind: 'submitted', flags } as const;
  });
}

/**
 * The QuestionnaireResponse of a conversation as it stands (in progress or completed), for staff and the
 * API. Callers that have the patient already (the staff conversation page) pass the NHS number.
 */
export async function storedQuestionnaireResponse(
  services: Pick<Services, 'db'>,
  conversation: KindConversation<QuestionnairePayload>['conversation'],
  known: { nhsNumber: string } | undefined = undefined,
): Promise<{ journey: Journey; response: QuestionnaireResponse } | undefined> {
  const journey = await loadJourney(services, conversation);
  if (!journey.stored) return undefined;
  const patient = known ?? (await getPatient(services.db, conversation.organisationId, conversation.patientId));
  const response = buildResponse(journey.definition, journey.answers, {
    id: conversation.id,
    status: journey.submittedAt ? 'completed' : 'in-progress',
    ...(patient && { subject: nhsNumberSubject(patient.nhsNumber) }),
    authored: journey.submittedAt ?? journey.stored.updatedAt,
  });
  return { journey, response };
}

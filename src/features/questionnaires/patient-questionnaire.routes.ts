// The questionnaire's patient pages under the conversation's base path (a link's or the portal's):
// the start page (or, once submitted, the answers given), one question a page, Check your answers and
// Submit. Every page works without JavaScript: plain forms, Post/Redirect/Get. HTTP only: parse, call
// the journey service, render or redirect.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { finished } from 'node:stream/promises';
import { z } from 'zod';
import type { FormErrors } from '../../platform/http/pages.ts';
import { collectMultipartForm, textFields } from '../../platform/http/multipart.ts';
import { ATTACHMENT_TYPE_WORDS, draftAttachments, removeDraftAttachment, takePatientAttachments, type AttachmentRefusal } from '../files/attachments.service.ts';
import type { FileRow } from '../files/files.repository.ts';
import { fileView, refusalMessage, sizeInWords } from '../files/file-words.ts';
import type { KindHandler, KindRequestContext } from '../conversations/item-kinds.ts';
import { conversationPageContext } from '../conversations/conversation-pages.ts';
import { conversationLinks, currentLink } from '../links/links.service.ts';
import { attachmentAnswer, firstUnanswered, parseAnswer, type AnswerError, type FormInput } from './answers.ts';
import { answerRows } from './answer-words.ts';
import { isPatientAnswered, type AnsweredFile, type AnswerValue, type QuestionnaireItem } from './definition.ts';
import { enabledItems } from './enable-when.ts';
import {
  afterQuestion,
  askedWhateverTheAnswers,
  attachmentDraftKey,
  beforeQuestion,
  countQuestions,
  definitionOf,
  firstMissing,
  loadJourney,
  questionSequence,
  resolvedJourney,
  saveQuestionPage,
  submitQuestionnaire,
  type Journey,
} from './questionnaire-journey.service.ts';
import { fieldId, questionPage } from './question-pages.ts';
import type { QuestionnairePayload } from './questionnaire.kind.ts';

type Context = KindRequestContext<QuestionnairePayload>;

const VIEWS = {
  start: 'questionnaires/views/patient-questionnaire-start.njk',
  question: 'questionnaires/views/patient-question.njk',
  check: 'questionnaires/views/patient-check-answers.njk',
  answers: 'questionnaires/views/patient-questionnaire-answers.njk',
} as const;

const linkIdParams = z.object({ linkId: z.string().min(1).max(255) });
const homeQuery = z.object({ submitted: z.literal('1').optional().catch(undefined) });
const questionQuery = z.object({ change: z.literal('1').optional().catch(undefined) });
const submitForm = z.object({ revision: z.coerce.number().int().min(0).max(2_147_483_647).catch(-1) });

const questionPath = (context: Context, linkId: string) => `${context.access.basePath}/questions/${encodeURIComponent(linkId)}`;
const checkPath = (context: Context) => `${context.access.basePath}/check`;

function pageContext(context: Context, journey: Journey) {
  const { definition } = journey;
  return {
    ...conversationPageContext(context),
    questionnaire: { title: definition.title ?? definition.name ?? context.conversation.payload.title },
  };
}

/** When the questionnaire closes: its link's expiry (the portal shows the same conversation's link). */
async function closesAt(context: Context): Promise<Date | undefined> {
  return currentLink(await conversationLinks(context.services.db, context.conversation.id))?.expiresAt;
}

function minutesToAnswer(questions: number): number {
  // About 15 seconds a question, as timed on the catalogue's questionnaires; never "0 minutes".
  return Math.max(1, Math.ceil((questions * 15) / 60));
}

/** The patient's answers in words, for Check your answers and the page that shows them after submitting. */
function answerList(journey: Journey, context: Context, withChangeLinks: boolean) {
  const resolved = resolvedJourney(journey);
  const rows = answerRows(journey.definition, resolved.answers, resolved.enabled).filter((r) => !r.hidden);
  return {
    flags: resolved.flags,
    rows: rows.map((r) => ({
      key: { text: r.question },
      value: { text: r.answer },
      ...(withChangeLinks &&
        !r.calculated && {
          actions: { items: [{ href: `${questionPath(context, r.linkId)}?change=1`, text: 'Change', visuallyHiddenText: r.question }] },
        }),
    })),
    calculatedNote: rows.some((r) => r.calculated),
  };
}

async function renderAnswers(reply: FastifyReply, context: Context, journey: Journey, submittedNow: boolean) {
  return reply.page(VIEWS.answers, {
    ...pageContext(context, journey),
    pageTitle: submittedNow ? 'Answers sent' : `Your answers: ${context.conversation.payload.title}`,
    submittedNow,
    submittedAt: journey.submittedAt,
    ...answerList(journey, context, false),
  });
}

export const questionnaireHome: KindHandler<QuestionnairePayload> = async (request, reply, context) => {
  const journey = await loadJourney(context.services, context.conversation);
  if (journey.submittedAt) return renderAnswers(reply, context, journey, homeQuery.parse(request.query ?? {}).submitted === '1');
  const resume = journey.answers.size > 0 ? firstUnanswered(journey.definition, journey.answers) : undefined;
  const first = firstUnanswered(journey.definition, new Map());
  const description = journey.definition.resource.description;
  return reply.page(VIEWS.start, {
    ...pageContext(context, journey),
    pageTitle: `${context.conversation.payload.title} from ${context.access.organisation.name}`,
    description: typeof description === 'string' ? description : undefined,
    // A description that says how long it takes knows better (home blood pressure: the readings take
    // 10 minutes); two different times on one page would confuse.
    minutes: typeof description === 'string' && /\btakes? about\b/i.test(description) ? undefined : minutesToAnswer(countQuestions(journey.definition)),
    closesAt: await closesAt(context),
    sentAt: context.conversation.createdAt,
    started: journey.answers.size > 0,
    startHref: journey.answers.size > 0 ? (resume ? questionPath(context, resume.linkId) : checkPath(context)) : first ? questionPath(context, first.linkId) : checkPath(context),
  });
};

/** The question a page asks, if it is one the patient can answer now; otherwise where to go instead. */
function askable(journey: Journey, linkId: string): { item: QuestionnaireItem } | { redirectTo: 'start' | { linkId: string } | 'check' } {
  const item = journey.definition.byLinkId.get(linkId);
  if (!item || !isPatientAnswered(item)) return { redirectTo: 'start' };
  if (enabledItems(journey.definition, journey.answers).has(linkId)) return { item };
  // Not asked with the answers given (they went back and changed one): carry on where they are.
  const missing = firstMissing(journey.definition, journey.answers);
  return { redirectTo: missing ? { linkId: missing.linkId } : 'check' };
}

function redirectFor(reply: FastifyReply, context: Context, to: 'start' | { linkId: string } | 'check') {
  const href = to === 'start' ? context.access.basePath : to === 'check' ? checkPath(context) : questionPath(context, to.linkId);
  return reply.redirect(href, 303);
}

/** How many files an attachment question takes: one, or (repeats) up to its maxOccurs within ATTACHMENTS_PER_REPLY. */
function fileLimit(context: Context, item: QuestionnaireItem): number {
  const most = context.services.config.files.attachmentsPerReply;
  return item.repeats ? Math.min(item.maxOccurs ?? most, most) : 1;
}

/** The file upload part of an attachment question's page: the files added so far and how many more fit. */
async function filesOfPage(context: Context, item: QuestionnaireItem) {
  const drafts = await draftAttachments(context.services, context.access, attachmentDraftKey(item.linkId));
  const max = fileLimit(context, item);
  return { drafts: drafts.map(fileView), max, left: Math.max(0, max - drafts.length), maxSize: sizeInWords(context.services.config.files.attachmentMaxBytes) };
}

async function renderQuestion(
  reply: FastifyReply,
  context: Context,
  journey: Journey,
  item: QuestionnaireItem,
  options: { fromCheck: boolean; posted?: FormInput; error?: AnswerError; refusals?: AttachmentRefusal[]; notice?: string },
  status = 200,
) {
  const page = questionPage(journey.definition, item, { stored: journey.answers.get(item.linkId) ?? [], ...options });
  const previous = beforeQuestion(journey.definition, journey.answers, item.linkId);
  const errors: FormErrors = {};
  if (options.error) errors[options.error.field] = { href: `#${fieldId(page.control, options.error.field)}`, text: options.error.message };
  // One error summary entry a refused file, each naming it: the inline message lists them all.
  for (const [i, r] of (options.refusals ?? []).entries()) errors[`files-${i}`] = { href: '#files', text: r.message };
  const fileErrors = Object.values(errors).map((e) => e.text);
  return reply.page(
    VIEWS.question,
    {
      ...pageContext(context, journey),
      pageTitle: `${page.heading} – ${context.conversation.payload.title}`,
      page,
      errors: Object.keys(errors).length > 0 ? errors : undefined,
      ...(page.control === 'file' && { files: await filesOfPage(context, item), fileErrors, notice: options.notice }),
      fromCheck: options.fromCheck,
      action: questionPath(context, item.linkId),
      backHref: options.fromCheck ? checkPath(context) : previous ? questionPath(context, previous.linkId) : context.access.basePath,
    },
    { status },
  );
}

/** Pages that take answers are for a questionnaire still open: otherwise back to its start (or answers). */
function closedFor(journey: Journey, context: Context): boolean {
  return journey.submittedAt !== null || !context.access.mayAnswer;
}

export const questionPageGet: KindHandler<QuestionnairePayload> = async (request, reply, context) => {
  const { linkId } = linkIdParams.parse(request.params);
  const journey = await loadJourney(context.services, context.conversation);
  if (closedFor(journey, context)) return reply.redirect(context.access.basePath, 303);
  const found = askable(journey, linkId);
  if ('redirectTo' in found) return redirectFor(reply, context, found.redirectTo);
  return renderQuestion(reply, context, journey, found.item, { fromCheck: questionQuery.parse(request.query ?? {}).change === '1' });
};

function formInput(request: FastifyRequest): FormInput {
  const body = request.body;
  if (typeof body !== 'object' || body === null) return {};
  const input: Record<string, string | string[]> = {};
  for (const field of ['value', 'other', 'day', 'month', 'year', 'change']) {
    const v = (body as Record<string, unknown>)[field];
    if (typeof v === 'string') input[field] = v.slice(0, 20_000);
    // Checkboxes post a list; more values than any question has options is not a person.
    else if (Array.isArray(v)) input[field] = v.filter((x): x is string => typeof x === 'string').slice(0, 200).map((x) => x.slice(0, 20_000));
  }
  return input;
}

export const questionPagePost: KindHandler<QuestionnairePayload> = async (request, reply, context) => {
  const { linkId } = linkIdParams.parse(request.params);
  if (context.access.mayAnswer) {
    const definition = await definitionOf(context.services, context.conversation.organisationId, context.conversation.payload);
    const item = definition.byLinkId.get(linkId);
    if (item?.type === 'attachment') return attachmentPagePost(request, reply, context, linkId);
  }
  // Only an attachment question's page sends files: any other multipart post is read for its fields.
  if (request.multipartForm) request.body = await fieldsOnly(request);
  const input = formInput(request);
  const fromCheck = input.change === '1';
  // A valid answer to a question asked whatever the answers are is saved without first reading the
  // stored answers: the save itself refuses a submitted questionnaire (and then goes to the start page,
  // as below), and the answers it returns decide the next page. Anything else takes the full path.
  if (context.access.mayAnswer) {
    const definition = await definitionOf(context.services, context.conversation.organisationId, context.conversation.payload);
    const item = definition.byLinkId.get(linkId);
    if (item && isPatientAnswered(item) && askedWhateverTheAnswers(definition, item)) {
      const parsed = parseAnswer(item, input);
      if (parsed.ok) return saveAndContinue(reply, context, { definition, linkId, values: parsed.answers, fromCheck });
    }
  }
  const journey = await loadJourney(context.services, context.conversation);
  if (closedFor(journey, context)) return reply.redirect(context.access.basePath, 303);
  const found = askable(journey, linkId);
  if ('redirectTo' in found) return redirectFor(reply, context, found.redirectTo);
  const parsed = parseAnswer(found.item, input);
  if (!parsed.ok) return renderQuestion(reply, context, journey, found.item, { fromCheck, posted: input, error: parsed.error }, 400);
  return saveAndContinue(reply, context, { definition: journey.definition, linkId, values: parsed.answers, fromCheck });
};

/** A multipart form's text fields, its files read and dropped unstored. */
async function fieldsOnly(request: FastifyRequest): Promise<Record<string, string>> {
  if (!request.multipartForm) return {};
  return collectMultipartForm(request.multipartForm, async (file) => {
    await finished(file.stream.resume());
  });
}

const answeredFile = (file: FileRow): AnsweredFile => ({
  fileId: file.id,
  contentType: file.mediaType,
  title: file.fileName,
  size: file.sizeBytes,
  creation: file.createdAt.toISOString(),
});

/** The page's buttons: add the chosen file(s) and stay, remove one (its id), or Continue (which also takes any chosen file). */
function fileAction(fields: Record<string, string>): { do: 'continue' } | { do: 'add' } | { do: 'remove'; fileId: string } {
  if (typeof fields.remove === 'string' && fields.remove !== '') return { do: 'remove', fileId: fields.remove.slice(0, 64) };
  return fields.action === 'add' ? { do: 'add' } : { do: 'continue' };
}

/**
 * An attachment question's page (multipart, `_csrf` first). Each file is taken in as it arrives (sniffed,
 * counted, encrypted, scanned: takePatientAttachments) and kept as the question's draft; Continue saves
 * the drafts as the answer, by file id. They stay drafts until Submit attaches them to the answers item.
 */
async function attachmentPagePost(request: FastifyRequest, reply: FastifyReply, context: Context, linkId: string) {
  const { services, access } = context;
  const journey = await loadJourney(services, context.conversation);
  const found = closedFor(journey, context) ? ({ redirectTo: 'start' } as const) : askable(journey, linkId);
  if ('redirectTo' in found) {
    await fieldsOnly(request);
    return closedFor(journey, context) ? reply.redirect(access.basePath, 303) : redirectFor(reply, context, found.redirectTo);
  }
  const { item } = found;
  const draftKey = attachmentDraftKey(linkId);
  const before = new Set((await draftAttachments(services, access, draftKey)).map((f) => f.id));
  const taken = request.multipartForm
    ? await takePatientAttachments(services, access, request.multipartForm, () => draftKey)
    : { fields: textFields(request.body), refusals: [] };
  const fromCheck = taken.fields.change === '1';
  const refusals = [...taken.refusals];
  // The files feature allows ATTACHMENTS_PER_REPLY; a question may take fewer (one, unless it repeats).
  const max = fileLimit(context, item);
  let drafts = await draftAttachments(services, access, draftKey);
  for (const extra of drafts.slice(max).filter((f) => !before.has(f.id))) {
    await removeDraftAttachment(services, access, draftKey, extra.id);
    const { attachmentMaxBytes: maxBytes } = services.config.files;
    refusals.push({ fileName: extra.fileName, refusal: 'too_many', message: max === 1 ? `${extra.fileName} was not added: you can add 1 file` : refusalMessage('too_many', { allowedWords: ATTACHMENT_TYPE_WORDS, maxBytes, maxFiles: max, fileName: extra.fileName }) });
  }
  drafts = drafts.filter((f) => before.has(f.id) || drafts.indexOf(f) < max);
  const action = fileAction(taken.fields);
  if (refusals.length > 0) {
    return renderQuestion(reply, context, journey, item, { fromCheck, refusals }, refusals.some((r) => r.refusal === 'scan_failed') ? 503 : 400);
  }
  if (action.do === 'remove') {
    const removed = await removeDraftAttachment(services, access, draftKey, action.fileId);
    // A file already saved as the answer no longer exists: the answer is what is left.
    const stored = journey.answers.get(linkId) ?? [];
    if (removed && stored.some((a) => a.type === 'attachment' && a.value.fileId === action.fileId)) {
      const left = drafts.filter((f) => f.id !== action.fileId).map((f): AnswerValue => ({ type: 'attachment', value: answeredFile(f) }));
      const saved = await saveQuestionPage(services, { access, definition: journey.definition, linkId, values: left });
      if (!saved.saved) return reply.redirect(access.basePath, 303);
      journey.answers = saved.answers;
    }
    return renderQuestion(reply, context, journey, item, { fromCheck, ...(removed && { notice: 'The file has been removed' }) });
  }
  if (action.do === 'add') {
    const added = drafts.some((f) => !before.has(f.id));
    const error: AnswerError | undefined = added ? undefined : { linkId, field: 'value', message: 'Select a file to add' };
    return renderQuestion(reply, context, journey, item, { fromCheck, ...(error && { error }) }, error ? 400 : 200);
  }
  const parsed = attachmentAnswer(item, drafts.map(answeredFile));
  if (!parsed.ok) return renderQuestion(reply, context, journey, item, { fromCheck, error: parsed.error }, 400);
  return saveAndContinue(reply, context, { definition: journey.definition, linkId, values: parsed.answers, fromCheck });
}

/** Saves the page's answer, then on to the next page (or to the start page if it was submitted meanwhile). */
async function saveAndContinue(
  reply: FastifyReply,
  context: Context,
  input: { definition: Journey['definition']; linkId: string; values: AnswerValue[]; fromCheck: boolean },
) {
  const { definition, linkId, values, fromCheck } = input;
  const saved = await saveQuestionPage(context.services, { access: context.access, definition, linkId, values });
  if (!saved.saved) return reply.redirect(context.access.basePath, 303);
  const next = afterQuestion(definition, saved.answers, linkId, fromCheck);
  return redirectFor(reply, context, next.at === 'check' ? 'check' : { linkId: next.item.linkId });
}

function renderCheck(reply: FastifyReply, context: Context, journey: Journey, extra: { changed?: boolean } = {}, status = 200) {
  return reply.page(
    VIEWS.check,
    {
      ...pageContext(context, journey),
      pageTitle: `Check your answers – ${context.conversation.payload.title}`,
      ...answerList(journey, context, true),
      revision: journey.revision,
      action: `${context.access.basePath}/submit`,
      changed: extra.changed ?? false,
      backHref: (() => {
        const last = questionSequence(journey.definition, journey.answers).at(-1);
        return last ? questionPath(context, last.linkId) : context.access.basePath;
      })(),
    },
    { status },
  );
}

export const checkAnswersPage: KindHandler<QuestionnairePayload> = async (_request, reply, context) => {
  const journey = await loadJourney(context.services, context.conversation);
  if (closedFor(journey, context)) return reply.redirect(context.access.basePath, 303);
  const missing = firstMissing(journey.definition, journey.answers);
  if (missing) return redirectFor(reply, context, { linkId: missing.linkId });
  return renderCheck(reply, context, journey);
};

export const submitAnswers: KindHandler<QuestionnairePayload> = async (request, reply, context) => {
  const { revision } = submitForm.parse(request.body ?? {});
  const journey = await loadJourney(context.services, context.conversation);
  if (closedFor(journey, context)) return reply.redirect(context.access.basePath, 303);
  const result = await submitQuestionnaire(context.services, { access: context.access, definition: journey.definition, revision });
  switch (result.kind) {
    case 'submitted':
      return reply.redirect(`${context.access.basePath}?submitted=1`, 303);
    case 'already_submitted':
      return reply.redirect(context.access.basePath, 303);
    case 'invalid':
      return redirectFor(reply, context, { linkId: result.errors[0]!.linkId });
    case 'changed': {
      // Another tab saved an answer since this page was drawn: show the answers as they are now.
      const now = await loadJourney(context.services, context.conversation);
      // A double tap: the other request submitted them. Show the answers sent, not "changed".
      if (now.submittedAt) return reply.redirect(context.access.basePath, 303);
      const missing = firstMissing(now.definition, now.answers);
      if (missing) return redirectFor(reply, context, { linkId: missing.linkId });
      return renderCheck(reply, context, now, { changed: true }, 409);
    }
  }
};

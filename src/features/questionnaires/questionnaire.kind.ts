// The questionnaire: the second item kind. Staff (or an integrator) send one exact version of a FHIR
// Questionnaire — the catalogue's or the organisation's own — and the patient answers it one question a
// page behind the secure link. The payload names the version; the answers live in questionnaire_responses.
import { z } from 'zod';
import type { ItemKind } from '../conversations/item-kinds.ts';
import { QUESTIONNAIRE_ANSWERS, QUESTIONNAIRE_REQUEST } from './questionnaire-journey.service.ts';
import { checkAnswersPage, questionnaireHome, questionPageGet, questionPagePost, submitAnswers } from './patient-questionnaire.routes.ts';
import { questionnaireStaffPanel } from './staff-questionnaire.panel.ts';

export const CLOSES_AFTER_DAYS_MAX = 28;

export const questionnairePayloadSchema = z.object({
  url: z.string().min(1),
  version: z.string().min(1),
  /** Kept so lists (the inbox, the portal) can name it without loading the definition. */
  title: z.string(),
  /** The sender's choice; otherwise QUESTIONNAIRE_LINK_TTL_DAYS. */
  closesAfterDays: z.number().int().min(1).max(CLOSES_AFTER_DAYS_MAX).optional(),
});
export type QuestionnairePayload = z.output<typeof questionnairePayloadSchema>;

export const questionnaireKind: ItemKind<QuestionnairePayload> = {
  name: 'questionnaire',
  words: { caption: 'Questionnaire', thing: 'questionnaire', textWaiting: 'please fill in a questionnaire' },
  sentAuditType: 'questionnaire.sent',
  patientItemKinds: [QUESTIONNAIRE_ANSWERS],
  answerItemKinds: [QUESTIONNAIRE_ANSWERS],
  payloadSchema: questionnairePayloadSchema,
  linkTtlDays: (config, payload) => payload.closesAfterDays ?? config.questionnaireLinkTtlDays,
  page: questionnaireHome,
  routes: [
    { method: 'GET', path: '/questions/:linkId', handler: questionPageGet },
    // An attachment question's page is a multipart form (the others post plain forms, left alone).
    {
      method: 'POST',
      path: '/questions/:linkId',
      handler: questionPagePost,
      files: (config) => ({ files: config.files.attachmentsPerReply, fileBytes: config.files.attachmentMaxBytes }),
    },
    { method: 'GET', path: '/check', handler: checkAnswersPage },
    { method: 'POST', path: '/submit', handler: submitAnswers },
  ],
  waitingForPatient: ({ items }) =>
    items.some((i) => i.kind === QUESTIONNAIRE_ANSWERS) ? { waiting: false } : { waiting: true, tag: 'Answers needed' },
  describeForStaff: (payload) => ({
    what: 'Questionnaire',
    settingsLabel: 'Questionnaire',
    settings: payload.title,
    fromPatient: { waiting: 'Answers waiting', sent: () => 'Answered' },
  }),
  describeItemForStaff: (item, names) =>
    item.kind === QUESTIONNAIRE_ANSWERS
      ? { fromPatient: true, tag: 'Questionnaire answers', heading: `Answers from ${names.patientName}` }
      : item.kind === QUESTIONNAIRE_REQUEST
        ? { fromPatient: false, heading: `Questionnaire sent by ${names.authorName ?? 'your organisation'}` }
        : { fromPatient: false, heading: 'Note' },
  staffPanel: questionnaireStaffPanel,
};

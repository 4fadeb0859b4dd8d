// What the staff conversation page shows of a questionnaire: whether it is answered, the urgent flags
// and calculated scores first, then each question and answer, "Copy for the record" (plain text with
// every coded entry) and the FHIR QuestionnaireResponse. Answers saved but not yet submitted are shown
// too, marked as such: a patient who answers PHQ-9 question 9 and stops must still reach a clinician.
import type { Services } from '../../services.ts';
import type { KindConversation, StaffPanel, StaffViewer } from '../conversations/item-kinds.ts';
import { fileTypeWords, sizeInWords } from '../files/file-words.ts';
import { answerRows, recordSummary, systemName } from './answer-words.ts';
import { resolvedJourney, storedQuestionnaireResponse } from './questionnaire-journey.service.ts';
import type { QuestionnairePayload } from './questionnaire.kind.ts';

const londonDateTime = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit' });

export async function questionnaireStaffPanel(
  services: Services,
  at: KindConversation<QuestionnairePayload>,
  patient: { nhsNumber: string },
  viewer: StaffViewer,
): Promise<StaffPanel> {
  const stored = await storedQuestionnaireResponse(services, at.conversation, patient);
  if (!stored) {
    return { view: 'questionnaires/views/staff-questionnaire-panel.njk', data: { state: 'not_started', title: at.conversation.payload.title } };
  }
  const { journey, response } = stored;
  const resolved = resolvedJourney(journey);
  const status = journey.submittedAt ? 'completed' : 'in-progress';
  const when = journey.submittedAt ?? journey.stored!.updatedAt;
  if (!viewer.mayReadAnswers) {
    // Clinical content (answers, scores, flags' wording, files, the FHIR resource) is for clinicians and
    // admins; a receptionist sees that answers arrived and whether a clinician is needed soon.
    return {
      view: 'questionnaires/views/staff-questionnaire-panel.njk',
      data: { state: status, title: at.conversation.payload.title, version: journey.definition.version, when, answersHidden: true, flagged: resolved.flags.length > 0 },
    };
  }
  const rows = answerRows(journey.definition, resolved.answers, resolved.enabled);
  return {
    view: 'questionnaires/views/staff-questionnaire-panel.njk',
    data: {
      state: status,
      title: at.conversation.payload.title,
      version: journey.definition.version,
      when,
      flags: resolved.flags,
      scores: rows.filter((r) => r.calculated).map((r) => ({ key: { text: r.question }, value: { text: r.answer } })),
      answers: rows
        .filter((r) => !r.calculated)
        .map((r) => ({
          key: { text: r.question },
          value: { text: r.answer },
        })),
      // Files given as answers: sent ones (attached to the answers item on Submit) open at /staff/files/<id>;
      // before Submit they are the patient's drafts, which staff cannot open.
      files: rows.flatMap((r) => {
        const given = (resolved.answers.get(r.linkId) ?? []).flatMap((a) => (a.type === 'attachment' ? [a.value] : []));
        if (given.length === 0) return [];
        return [
          {
            question: r.question,
            files: given.map((f) => ({
              title: f.title,
              words: `${fileTypeWords(f.contentType)}, ${sizeInWords(f.size)}`,
              ...(journey.submittedAt && { href: `/staff/files/${f.fileId}` }),
            })),
          },
        ];
      }),
      codes: rows.filter((r) => r.codes.length > 0).length,
      recordText: recordSummary(journey.definition, resolved.answers, resolved.enabled, {
        status,
        authored: londonDateTime.format(when),
        flags: resolved.flags,
      }),
      responseJson: JSON.stringify(response, null, 2),
      jsonHref: `/staff/conversations/${at.conversation.id}/questionnaire-response`,
      systems: [...new Set(rows.flatMap((r) => r.codes.map((c) => systemName(c.system))))],
    },
  };
}

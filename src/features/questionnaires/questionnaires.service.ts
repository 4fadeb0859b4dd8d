// Questionnaires an organisation can send: the built-in catalogue (read from ./catalogue, never stored)
// and the organisation's own, added through the API or the operators' command line (issue 11). Both ways
// in validate with loadQuestionnaire, so a questionnaire the engine cannot run in full is never stored.
//
// Versions are immutable: a response must always find the exact version it answered. Adding the same
// url|version again with the same resource returns the one stored; with a different resource it is
// refused, and the author must give it a new version.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Services } from '../../services.ts';
import { AlreadyExists, InvalidInput, NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { loadQuestionnaire, ROOT, type Problem, type QuestionnaireDefinition } from './definition.ts';
import {
  findQuestionnaireById,
  findQuestionnaireVersion,
  insertQuestionnaire,
  latestQuestionnaireVersions,
  type StoredQuestionnaire,
} from './questionnaires.repository.ts';

/** Refused by loadQuestionnaire (or unstorable): every problem, each naming its linkId. */
export class QuestionnaireRefused extends InvalidInput {
  readonly problems: Problem[];
  constructor(problems: Problem[]) {
    super('The questionnaire cannot be used as it is. Each entry in problems names an item (its linkId) and what is wrong with it.');
    this.problems = problems;
  }
}

export const QUESTIONNAIRE_NOT_FOUND = 'There is no questionnaire with this id in your organisation.';

/** Who adds a questionnaire: an API key, a staff member, or an operator at the command line. */
export type QuestionnaireAuthor =
  | { type: 'api_key'; apiKeyId: string; ip?: string | null }
  | { type: 'staff'; staffUserId: string; ip?: string | null }
  | { type: 'operator'; operator: string };

export interface QuestionnaireSummary {
  /** Only the organisation's own have an id; catalogue entries are named by url and version. */
  id?: string;
  url: string;
  version: string;
  title: string | null;
  source: 'catalogue' | 'organisation';
}

// ---- The built-in catalogue ---------------------------------------------------------------------

const CATALOGUE_DIR = path.join(import.meta.dirname, 'catalogue');

/** Each catalogue file must load: one that does not stops the service at start, naming why. */
function loadCatalogue(): QuestionnaireDefinition[] {
  const files = readdirSync(CATALOGUE_DIR).filter((f) => f.endsWith('.json')).sort();
  const definitions: QuestionnaireDefinition[] = [];
  const failures: string[] = [];
  for (const file of files) {
    const result = loadQuestionnaire(JSON.parse(readFileSync(path.join(CATALOGUE_DIR, file), 'utf8')));
    if (result.ok) definitions.push(result.definition);
    else failures.push(`${file}: ${result.problems.map((p) => `${p.linkId}: ${p.message}`).join('; ')}`);
  }
  if (failures.length > 0) throw new Error(`The built-in questionnaire catalogue does not load:\n${failures.join('\n')}`);
  return definitions;
}

const CATALOGUE: readonly QuestionnaireDefinition[] = loadCatalogue();

export function catalogueQuestionnaires(): readonly QuestionnaireDefinition[] {
  return CATALOGUE;
}

// ---- Adding -------------------------------------------------------------------------------------

function auditActorOf(author: QuestionnaireAuthor): AuditActor {
  switch (author.type) {
    case 'api_key':
      return { type: 'api_key', id: author.apiKeyId, ip: author.ip ?? null };
    case 'staff':
      return { type: 'staff', id: author.staffUserId, ip: author.ip ?? null };
    case 'operator':
      return { type: 'operator', id: author.operator, ip: null };
  }
}

// PostgreSQL's jsonb cannot hold the NUL character; refuse it as a problem rather than fail on insert.
const hasNul = (json: unknown): boolean => JSON.stringify(json).includes('\\u0000');

export interface AddedQuestionnaire {
  /** False when this very version, with the same content, was already stored: nothing changed. */
  created: boolean;
  questionnaire: StoredQuestionnaire;
}

/**
 * Validates and stores one FHIR R4 Questionnaire for the organisation. Throws QuestionnaireRefused
 * (every problem) or AlreadyExists (this url|version is stored with other content).
 */
export async function addQuestionnaire(
  services: Pick<Services, 'db'>,
  input: { organisationId: string; json: unknown; author: QuestionnaireAuthor },
): Promise<AddedQuestionnaire> {
  if (hasNul(input.json)) throw new QuestionnaireRefused([{ linkId: ROOT, message: 'text must not contain the NUL character (\\u0000)' }]);
  const loaded = loadQuestionnaire(input.json);
  if (!loaded.ok) throw new QuestionnaireRefused(loaded.problems);
  const { url, version, title, name } = loaded.definition;
  const resource = input.json as Record<string, unknown>;
  if (CATALOGUE.some((c) => c.url === url && c.version === version)) {
    throw new AlreadyExists(`version ${version} of ${url} is a built-in questionnaire: give yours its own url`);
  }
  const { author } = input;

  return services.db.transaction(async (tx) => {
    const inserted = await insertQuestionnaire(tx, {
      organisationId: input.organisationId,
      url,
      version,
      title: title ?? name ?? null,
      resource,
      createdByApiKeyId: author.type === 'api_key' ? author.apiKeyId : null,
      createdByStaffId: author.type === 'staff' ? author.staffUserId : null,
    });
    if (!inserted) {
      // Already stored (perhaps by a request racing this one): the same content is the same questionnaire.
      const existing = await findQuestionnaireVersion(tx, input.organisationId, url, version);
      if (!existing) throw new Error(`questionnaire ${url}|${version} conflicted but cannot be found`);
      if (!isDeepStrictEqual(existing.resource, resource)) {
        throw new AlreadyExists(`version ${version} of this questionnaire already exists with different content: give it a new version`);
      }
      return { created: false, questionnaire: existing };
    }
    await recordAudit(tx, {
      type: author.type === 'operator' ? 'operator.questionnaire_added' : 'questionnaire.added',
      actor: auditActorOf(author),
      organisationId: input.organisationId,
      details: { questionnaireId: inserted.id, url, version },
    });
    return { created: true, questionnaire: inserted };
  });
}

// ---- Reading ------------------------------------------------------------------------------------

/** The catalogue, then the organisation's own (for each url, the version added last). */
export async function listQuestionnaires(services: Pick<Services, 'db'>, organisationId: string): Promise<QuestionnaireSummary[]> {
  const own = await latestQuestionnaireVersions(services.db, organisationId);
  return [
    ...CATALOGUE.map((c) => ({ url: c.url, version: c.version, title: c.title ?? c.name ?? null, source: 'catalogue' as const })),
    ...own.map((q) => ({ id: q.id, url: q.url, version: q.version, title: q.title, source: 'organisation' as const })),
  ];
}

/** One of the organisation's own questionnaires by id; another organisation's is not found. */
export async function getQuestionnaire(services: Pick<Services, 'db'>, organisationId: string, id: string): Promise<StoredQuestionnaire> {
  const row = isUuid(id) ? await findQuestionnaireById(services.db, organisationId, id) : undefined;
  if (!row) throw new NotFound(QUESTIONNAIRE_NOT_FOUND);
  return row;
}

/**
 * The exact version a conversation sends or a response answered: the organisation's own, or the
 * catalogue's. The definition is loaded again from the stored resource (it loaded when it was added).
 */
export async function findQuestionnaire(
  services: Pick<Services, 'db'>,
  organisationId: string,
  url: string,
  version: string,
): Promise<{ source: QuestionnaireSummary['source']; id?: string; definition: QuestionnaireDefinition } | undefined> {
  const builtIn = CATALOGUE.find((c) => c.url === url && c.version === version);
  if (builtIn) return { source: 'catalogue', definition: builtIn };
  const row = await findQuestionnaireVersion(services.db, organisationId, url, version);
  if (!row) return undefined;
  const loaded = loadQuestionnaire(row.resource);
  if (!loaded.ok) throw new Error(`stored questionnaire ${row.id} no longer loads: ${loaded.problems.map((p) => p.message).join('; ')}`);
  return { source: 'organisation', id: row.id, definition: loaded.definition };
}

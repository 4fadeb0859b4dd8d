// Is an organisation's patient record about the person NHS login vouched for? The NHS number alone is
// not enough: a typo, or a mistake in a practice's system, gives one person's number to another
// person's record, and the portal would then show that organisation's messages to the wrong person.
// The record must also have NHS login's date of birth and family name.

/**
 * A family name as it is compared: case and accents ignored (NFD, then combining marks dropped), and
 * everything that is not a letter or a digit dropped, so "O'Brien", "O’Brien" and "OBRIEN", or
 * "Smith-Jones" and "Smith Jones", are the same name. Upper case first, so "ß" compares as "ss".
 */
export function comparableFamilyName(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toUpperCase()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, '');
}

export type RecordDetail = 'date_of_birth' | 'family_name';

/**
 * Which of the record's details differ from NHS login's (empty: the record matches). A detail NHS
 * login did not give differs: nothing is shown on a guess.
 */
export function recordDifferences(
  record: { dateOfBirth: string; familyName: string },
  identity: { birthdate: string | null; familyName: string | null },
): RecordDetail[] {
  const differs: RecordDetail[] = [];
  if (identity.birthdate === null || identity.birthdate !== record.dateOfBirth) differs.push('date_of_birth');
  const name = identity.familyName === null ? '' : comparableFamilyName(identity.familyName);
  if (name === '' || name !== comparableFamilyName(record.familyName)) differs.push('family_name');
  return differs;
}

export function recordMatches(record: { dateOfBirth: string; familyName: string }, identity: { birthdate: string | null; familyName: string | null }): boolean {
  return recordDifferences(record, identity).length === 0;
}

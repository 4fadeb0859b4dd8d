// What a name shown to people may hold (patients, staff, organisations). Control characters corrupt
// screens and exports, and PostgreSQL text cannot hold NUL (a 500, not an answer). Unicode format
// characters (general category Cf: U+202E RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE, zero-width
// joiners, bidirectional marks…) are invisible, yet change how a name displays or compares: a name
// that reads "Smith" on a staff screen can be another string in the database, or two records that look
// the same are not (issue 10, item 13). NHS records' names need none of them.

/** Control characters and lone surrogates. */
export const CONTROL_CHARACTERS = /[\p{Cc}\p{Cs}]/u;

/** Free text (a reason, what a patient should know) may have tabs and line breaks, but no other control character. */
export function hasControlCharactersBesidesLineBreaks(text: string): boolean {
  return CONTROL_CHARACTERS.test(text.replace(/[\r\n\t]/g, ''));
}

/** Unicode format characters: invisible, and they change how text around them is shown. */
export const FORMAT_CHARACTERS = /\p{Cf}/u;

/** The words for a name with a format character in it; `what` starts the sentence ("The patient's given name"). */
export function formatCharactersMessage(what: string): string {
  return `${what} must not contain hidden formatting characters (like a right-to-left mark). Type it in rather than copying and pasting it`;
}

// A document conversation's items: what staff sent (the file and its title, with an optional note), and
// the patient's first opening of it (one item, however many times they open it; each open is audited).
export const STAFF_DOCUMENT = 'staff_document';
export const DOCUMENT_OPENED = 'document_opened';
/** The client key of the one DOCUMENT_OPENED item, so opening in two tabs at once still makes one. */
export const FIRST_OPEN_KEY = 'document-first-open';
export const DOCUMENT_TITLE_MAX = 120;
export const DOCUMENT_NOTE_MAX = 1000;

// Progressive enhancement only: every page works without this file.
import { initAll } from '/assets/nhsuk/nhsuk-frontend.min.js';

document.body.classList.add('js-enabled', 'nhsuk-frontend-supported');
initAll();

// Move focus to the error summary so screen reader and keyboard users hear what went wrong first.
const summary = document.querySelector('.nhsuk-error-summary');
if (summary instanceof HTMLElement) summary.focus();

// nhsuk-frontend marks a radio that reveals a follow-up question (open-choice "Other") with
// aria-expanded, which ARIA does not allow on a radio (axe aria-allowed-attr, critical; w3c/aria#1404).
// The revealed question comes straight after its radio, so nothing is lost; checkboxes keep theirs.
// Runs after nhsuk-frontend's own handlers: theirs are on the radios' container, this is on document.
const dropRadioExpanded = () => {
  for (const radio of document.querySelectorAll('input[type="radio"][aria-expanded]')) radio.removeAttribute('aria-expanded');
};
dropRadioExpanded();
document.addEventListener('click', dropRadioExpanded);
window.addEventListener('pageshow', dropRadioExpanded);

// Progressive enhancement only: every page works without this file.
import { initAll } from '/assets/nhsuk/nhsuk-frontend.min.js';

document.body.classList.add('js-enabled', 'nhsuk-frontend-supported');
initAll();

// Move focus to the error summary so screen reader and keyboard users hear what went wrong first.
const summary = document.querySelector('.nhsuk-error-summary');
if (summary instanceof HTMLElement) summary.focus();

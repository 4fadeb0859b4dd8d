// Moves focus to what a page marks with data-focus-on-load (search results), unless an error summary
// is there: app.js focuses that, and errors come first.
const target = document.querySelector('[data-focus-on-load]');
if (target instanceof HTMLElement && !document.querySelector('.nhsuk-error-summary')) target.focus();

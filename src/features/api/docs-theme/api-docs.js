// Names the "Servers" list on /api/docs (WCAG 2.2 1.3.1, 4.1.2). swagger-ui renders the visible
// "Servers" title as a plain <span> and the <select id="servers"> inside an empty <label>, so the list
// has no accessible name. This points the select at the visible title (aria-labelledby), whenever
// swagger-ui (React) renders it. Served as a file from 'self', so the strict CSP needs no change.
const TITLE_ID = 'dc-servers-title';

function nameServersList() {
  const select = document.getElementById('servers');
  if (!select || select.hasAttribute('aria-labelledby')) return;
  const title = document.querySelector('.swagger-ui .servers-title');
  if (title) {
    title.id = TITLE_ID;
    select.setAttribute('aria-labelledby', TITLE_ID);
  } else {
    select.setAttribute('aria-label', 'Servers');
  }
}

// Long examples (a FHIR QuestionnaireResponse) scroll inside their box; a keyboard user must be able to
// reach and scroll them (WCAG 2.1.1, axe scrollable-region-focusable), so each example box takes focus.
function focusableExamples() {
  for (const example of document.querySelectorAll('.swagger-ui .highlight-code > .microlight:not([tabindex])')) {
    example.setAttribute('tabindex', '0');
  }
}

// A query parameter with a fixed set of values (GET /api/v1/bookings' includeCancelled) is a <select>
// in "Try it out" with no label: swagger-ui shows the parameter's name in another table cell. Name each
// such select after its parameter (WCAG 4.1.2, axe select-name).
function nameParameterSelects() {
  for (const select of document.querySelectorAll('.swagger-ui .parameters-col_description > select:not([aria-label])')) {
    const name = select.closest('tr')?.querySelector('.parameter__name')?.textContent?.replace('*', '').trim();
    select.setAttribute('aria-label', name || 'Value');
  }
}

function improve() {
  nameServersList();
  focusableExamples();
  nameParameterSelects();
}

new MutationObserver(improve).observe(document.body, { childList: true, subtree: true });
improve();

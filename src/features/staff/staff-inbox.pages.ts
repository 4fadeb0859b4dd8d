// What the inbox page shows, from a page of the inbox: the views with their counts, the filters, and
// page links that keep every filter (so "Older conversations" never drops a search).
import { smsStatusWords } from '../messages/staff-words.ts';
import { INBOX_VIEWS, type InboxFilter, type InboxPage, type InboxWaitingFilter } from './staff-inbox.service.ts';

const VIEW_WORDS: Record<InboxFilter['view'], string> = { open: 'Open', mine: 'Assigned to me', unassigned: 'Unassigned', done: 'Done' };

const WAITING_WORDS: Record<InboxWaitingFilter, string> = {
  reply: 'Reply from the patient',
  answers: 'Questionnaire answers',
  booking: 'Booking made, changed or cancelled',
  'not-opened': 'Document not opened',
  'text-not-delivered': 'Text message not delivered',
};

export function inboxUrl(filter: InboxFilter, page?: number): string {
  const params = new URLSearchParams();
  if (filter.view !== 'open') params.set('view', filter.view);
  if (filter.waiting) params.set('waiting', filter.waiting);
  if (filter.patient) params.set('patient', filter.patient);
  if (page !== undefined) params.set('page', String(page));
  const query = params.toString();
  return query ? `/staff?${query}` : '/staff';
}

/** The page's heading: the open view is the inbox itself, "Conversations". */
export function inboxHeading(view: InboxFilter['view']): string {
  return view === 'open' ? 'Conversations' : `${VIEW_WORDS[view]}: conversations`;
}

/** The heading, and after a search or filter how many rows this page has: the first thing a screen reader says. */
export function inboxPageTitle(filter: InboxFilter, rowCount: number): string {
  const narrowed = filter.waiting || filter.patient;
  return narrowed ? `${inboxHeading(filter.view)}: ${rowCount} ${rowCount === 1 ? 'result' : 'results'}` : inboxHeading(filter.view);
}

export function inboxContext(inbox: InboxPage, filter: InboxFilter, notOpenedDays: number) {
  return {
    inbox: { ...inbox, rows: inbox.rows.map((r) => ({ ...r, status: smsStatusWords(r.smsStatus) })) },
    filter,
    viewName: VIEW_WORDS[filter.view],
    heading: inboxHeading(filter.view),
    views: INBOX_VIEWS.map((view) => ({
      view,
      text: VIEW_WORDS[view],
      count: inbox.counts[view],
      // The filters stay when changing view; the page starts again.
      href: inboxUrl({ ...filter, view }),
      current: view === filter.view,
    })),
    waitingOptions: [
      { value: '', text: 'Anything' },
      ...Object.entries(WAITING_WORDS).map(([value, text]) => ({
        value,
        text: value === 'not-opened' ? `${text} after ${notOpenedDays} days` : text,
        selected: value === filter.waiting,
      })),
    ],
    waitingWords: filter.waiting ? WAITING_WORDS[filter.waiting] : undefined,
    notOpenedDays,
    narrowed: Boolean(filter.waiting || filter.patient),
    clearUrl: inboxUrl({ view: filter.view }),
    previousUrl: inbox.hasPrevious ? inboxUrl(filter, inbox.page - 1) : undefined,
    nextUrl: inbox.hasNext ? inboxUrl(filter, inbox.page + 1) : undefined,
  };
}

// How staff pages name a link's state: the inbox's column and the conversation page's tag come from
// this one function, so a link is never "Active" in one place and "Locked" in the other.
import { currentLink, linkState, type Link, type LinkState } from './links.service.ts';

export interface LinkStatus {
  state: 'active' | 'expired' | 'revoked' | 'locked' | 'locked_until_resent' | 'none';
  words: string;
  /** nhsuk-tag colour. */
  tagColour: 'green' | 'grey' | 'red' | 'orange' | 'white';
}

export function linkStatus(link: LinkState | { state: 'none' }): LinkStatus {
  switch (link.state) {
    case 'active':
      return { state: 'active', words: 'Link works', tagColour: 'green' };
    case 'expired':
      return { state: 'expired', words: 'Link expired', tagColour: 'grey' };
    case 'revoked':
      return { state: 'revoked', words: 'Link revoked', tagColour: 'grey' };
    case 'locked':
      return { state: 'locked', words: 'Link locked for now', tagColour: 'orange' };
    case 'locked-permanently':
      return { state: 'locked_until_resent', words: 'Link locked until re-sent', tagColour: 'red' };
    case 'none':
      return { state: 'none', words: 'No link', tagColour: 'white' };
  }
}

/** The status of a conversation from its links, newest first (the same choice of link as the conversation page). */
export function conversationLinkStatus(newestFirst: readonly Link[], now: Date): LinkStatus {
  const current = currentLink(newestFirst);
  return linkStatus(current ? linkState(current, now) : { state: 'none' });
}

// Where NHS login leads: registers the relying party routes (GET /nhs-login/start, the callback) with
// the two journeys that use them — a link's "Continue with NHS login" (returnTo /<token>/nhs-login) and
// the patient portal (returnTo /portal). Any other returnTo is refused at the start and at the callback.
import type { FastifyInstance } from 'fastify';
import { finishLinkWithNhsLogin } from '../verification/nhs-login-link.pages.ts';
import { finishPortalSignIn } from '../portal/portal.routes.ts';
import { nhsLoginRoutes } from './nhs-login.routes.ts';
import { destinationOf, startAgainHref } from './nhs-login-destinations.ts';
import { NhsLoginError } from './nhs-login.client.ts';

export async function nhsLoginJourneyRoutes(app: FastifyInstance) {
  await app.register(nhsLoginRoutes, {
    isAllowedReturnTo: (returnTo) => destinationOf(returnTo) !== undefined,
    onIdentity: (request, reply, identity, finished) => {
      const destination = destinationOf(finished.returnTo);
      if (destination?.kind === 'link') return finishLinkWithNhsLogin(request, reply, destination.token, identity);
      if (destination?.kind === 'portal') return finishPortalSignIn(request, reply, identity);
      const error = new NhsLoginError('unknown_transaction', 'the sign-in returns nowhere this service knows');
      return reply.page(
        'nhs-login/views/nhs-login-problem.njk',
        { pageTitle: 'There is a problem with NHS login', message: error.publicMessage, startAgainHref: '/' },
        { status: 400 },
      );
    },
    onFailure: (_request, reply, error) => {
      const fromLink = destinationOf(error.returnTo)?.kind === 'link';
      return reply.page(
        'nhs-login/views/nhs-login-problem.njk',
        {
          pageTitle: error.reason === 'cancelled' ? 'You did not finish logging in' : 'There is a problem with NHS login',
          message: error.publicMessage,
          startAgainHref: startAgainHref(error.returnTo),
          dateOfBirthRoute: fromLink,
        },
        { status: error.status },
      );
    },
  });
}

// HTTP errors carry a status, words safe to show and a private detail for the logs (as node-oidc-provider
// does): expose = status < 500, so a 5xx never puts its detail on a page. Only routes and plugins throw
// these; services throw the domain errors of platform/errors.ts, which httpStatusOf maps here.
import { AlreadyExists, InvalidInput, NotAuthenticated, NotFound, NotPermitted, RateLimited, type DomainError } from '../errors.ts';

export class AppError extends Error {
  readonly status: number;
  readonly publicMessage: string;
  readonly expose: boolean;

  constructor(status: number, publicMessage: string, detail?: string) {
    super(detail ?? publicMessage);
    this.name = 'AppError';
    this.status = status;
    this.publicMessage = publicMessage;
    this.expose = status < 500;
  }
}

export class NotFoundError extends AppError {
  constructor(detail?: string) {
    super(404, 'Page not found', detail);
    this.name = 'NotFoundError';
  }
}

export class ForbiddenError extends AppError {
  constructor(detail?: string) {
    super(403, 'You do not have access to this page', detail);
    this.name = 'ForbiddenError';
  }
}

/** The one place a domain error (platform/errors.ts) becomes an HTTP status. */
export function httpStatusOf(error: DomainError): number {
  if (error instanceof NotFound) return 404;
  if (error instanceof AlreadyExists) return 409;
  if (error instanceof NotAuthenticated) return 401;
  if (error instanceof NotPermitted) return 403;
  if (error instanceof InvalidInput) return 400;
  if (error instanceof RateLimited) return 429;
  return 500;
}

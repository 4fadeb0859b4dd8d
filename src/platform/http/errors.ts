// Errors carry a status, words safe to show and a private detail for the logs (as node-oidc-provider
// does): expose = status < 500, so a 5xx never puts its detail on a page.
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

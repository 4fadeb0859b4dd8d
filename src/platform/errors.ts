// Domain errors: what went wrong, in words safe to show, and a private detail for the logs. Services
// throw these (or return results); they never know HTTP statuses. The HTTP layer maps each class to a
// status in one place (platform/http/errors.ts, httpStatusOf).
export class DomainError extends Error {
  readonly publicMessage: string;

  constructor(publicMessage: string, detail?: string) {
    super(detail ?? publicMessage);
    this.name = new.target.name;
    this.publicMessage = publicMessage;
  }
}

/** The thing does not exist, or is not the caller's to see (never say which). */
export class NotFound extends DomainError {}

/** It exists already (an organisation's ODS code, a staff member's email). */
export class AlreadyExists extends DomainError {}

/** The caller is not who they must be (no credentials, or credentials that are not valid). */
export class NotAuthenticated extends DomainError {}

/** The caller is known but may not do this. */
export class NotPermitted extends DomainError {}

/** What was sent cannot be used as it is; publicMessage says what to change. */
export class InvalidInput extends DomainError {}

/** Too many requests; try again after retryAfterSeconds. */
export class RateLimited extends DomainError {
  readonly retryAfterSeconds: number;
  constructor(publicMessage: string, retryAfterSeconds: number) {
    super(publicMessage);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

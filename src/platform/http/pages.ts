// Server-rendered pages: reply.page(template, context) renders a Nunjucks view with what every page
// needs (the CSRF token, the service name). Error pages for humans and problem documents for the API
// are produced here too, so a 5xx detail never reaches a page.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type nunjucks from 'nunjucks';
import { AppError, httpStatusOf } from './errors.ts';
import { DomainError, RateLimited } from '../errors.ts';
import { RenderCache } from '../views/render-cache.ts';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '../db/unavailable.ts';

export interface PageOptions {
  status?: number;
  /**
   * Context paths whose values are the only thing that differs between requests for this page (e.g.
   * 'token'): the page is rendered once and kept, and later requests fill in their values (see
   * render-cache.ts). The CSRF token is always one. Leave unset for pages with patient data.
   */
  volatile?: readonly string[];
}

/** A part of the site's own "page not found" (the staff workspace's): renders it with status 404. */
export type NotFoundPage = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> | FastifyReply;

declare module 'fastify' {
  interface FastifyReply {
    page(template: string, context?: Record<string, unknown>, options?: PageOptions): FastifyReply;
  }
  interface FastifyInstance {
    /**
     * Paths under `prefix` get `page` as their 404, for unknown paths and for a NotFound thrown by their
     * routes alike. A hook rather than an import, so the platform knows no feature.
     */
    useNotFoundPage(prefix: string, page: NotFoundPage): void;
  }
}

export const SERVICE_NAME = 'Dovecote';

export interface FieldError {
  /** The id of the field the error belongs to, so the summary can link to it. */
  href: string;
  text: string;
}

/** Errors keyed by field name, shared by the error summary and the inline messages. */
export type FormErrors = Record<string, FieldError>;

export function errorList(errors: FormErrors | undefined): FieldError[] {
  return errors ? Object.values(errors) : [];
}

function isApiRequest(request: FastifyRequest): boolean {
  return request.url.startsWith('/api/');
}

export const pagesPlugin = fp(async function pages(app: FastifyInstance, opts: { views: nunjucks.Environment }) {
  const renderCache = new RenderCache((template, context) => opts.views.render(template, context), {
    onUncacheable: (template) => app.log.warn({ template }, 'page cannot be cached: its template uses a volatile value beyond printing it'),
  });
  app.decorateReply('page', function page(this: FastifyReply, template: string, context = {}, options: PageOptions = {}) {
    const errors = context.errors as FormErrors | undefined;
    const fullContext = {
      serviceName: SERVICE_NAME,
      csrfToken: this.generateCsrf(),
      errorList: errorList(errors),
      ...context,
    };
    const html = options.volatile
      ? renderCache.renderPage(template, fullContext, [...options.volatile, 'csrfToken'])
      : opts.views.render(template, fullContext);
    return this.status(options.status ?? 200)
      .type('text/html; charset=utf-8')
      .send(html);
  });

  const notFoundPages: { prefix: string; page: NotFoundPage }[] = [];
  app.decorate('useNotFoundPage', (prefix: string, page: NotFoundPage) => {
    notFoundPages.push({ prefix, page });
  });
  const notFoundPageFor = (request: FastifyRequest): NotFoundPage | undefined => {
    const path = request.url.split('?')[0] ?? '';
    return notFoundPages.find(({ prefix }) => path === prefix || path.startsWith(`${prefix}/`))?.page;
  };

  app.setNotFoundHandler((request, reply) => {
    const own = notFoundPageFor(request);
    if (own) return own(request, reply);
    if (isApiRequest(request)) {
      return reply.status(404).type('application/problem+json').send({ type: 'about:blank', title: 'Not Found', status: 404 });
    }
    return reply.page('errors/not-found.njk', { pageTitle: 'Page not found' }, { status: 404 });
  });

  app.setErrorHandler((error: FastifyError | AppError | DomainError, request, reply) => {
    let status = 500;
    let title = 'Sorry, there is a problem with the service';
    const databaseAway = isDatabaseUnavailable(error);
    if (databaseAway) {
      status = 503;
      void reply.header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
    } else if (error instanceof AppError) {
      status = error.status;
      title = error.expose ? error.publicMessage : title;
    } else if (error instanceof DomainError) {
      status = httpStatusOf(error);
      title = status < 500 ? error.publicMessage : title;
      if (error instanceof RateLimited) void reply.header('retry-after', String(error.retryAfterSeconds));
    } else if (error.code?.startsWith('FST_CSRF')) {
      status = 403;
      title = 'Your form could not be sent';
    } else if (error.validation) {
      status = 400;
      title = 'The request is not valid';
    } else if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      status = error.statusCode;
      title = status === 413 ? 'The request is too large' : 'The request is not valid';
    }
    if (databaseAway) {
      request.log.warn({ errName: error.name }, 'database unavailable; answered 503');
    } else if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.info({ errCode: (error as FastifyError).code ?? error.name, status }, 'request refused');
    }
    if (isApiRequest(request)) {
      return reply.status(status).type('application/problem+json').send({ type: 'about:blank', title, status });
    }
    const own = status === 404 ? notFoundPageFor(request) : undefined;
    if (own) return own(request, reply);
    return reply.page('errors/error.njk', { pageTitle: title, status, csrfFailed: status === 403 && title.startsWith('Your form') }, { status });
  });
});

import { STATUS_CODES } from 'node:http';
import type { Middleware } from 'koa';
import type { Logger } from './logger';

/** One failing field, in the contract's shape: `{"loc":["body","session_name"],"msg":"Field required","type":"missing"}`. */
export interface FieldError {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string | FieldError[],
  ) {
    super(typeof detail === 'string' ? detail : 'Validation failed');
    this.name = 'HttpError';
  }
}

export const badRequest = (detail: string) => new HttpError(400, detail);
export const notFound = (detail: string) => new HttpError(404, detail);
export const conflict = (detail: string) => new HttpError(409, detail);
export const unprocessable = (fields: FieldError[]) => new HttpError(422, fields);
export const serviceUnavailable = (detail: string) => new HttpError(503, detail);

// Errors raised while the database cannot be reached: by the socket, by the pool, or by a server shutting down.
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);
// SQLSTATE class 08 (connection exception), and admin shutdown, crash shutdown, cannot connect now.
const CONNECTION_EXCEPTION_CLASS = '08';
const SHUTDOWN_STATES = new Set(['57P01', '57P02', '57P03']);

/** Whether an error means the database could not be reached (rather than that it refused something): a 503 to try again. */
export const isDatabaseUnavailable = (err: unknown): boolean => {
  if (typeof err !== 'object' || err === null) return false;
  const { code: rawCode, message: rawMessage } = err as { code?: unknown; message?: unknown };
  const code = typeof rawCode === 'string' ? rawCode : '';
  if (CONNECTION_ERROR_CODES.has(code) || code.startsWith(CONNECTION_EXCEPTION_CLASS) || SHUTDOWN_STATES.has(code)) return true;
  const message = typeof rawMessage === 'string' ? rawMessage : '';
  // "timeout expired": a connection that did not open in time (pg.Client's own connect timeout).
  return /Connection terminated|timeout exceeded when trying to connect|timeout expired|Client has encountered a connection error/.test(message);
};

interface StatusError {
  status?: unknown;
  expose?: unknown;
  message?: unknown;
  code?: unknown;
  headers?: unknown;
}

/**
 * Renders every error as JSON with a `detail`: our HttpErrors as they are, the 4xx errors of Koa's own
 * middleware (body parser, router) with their message, an unreachable database as 503, anything else as
 * a 500 whose cause is logged and never sent. Also gives a body to statuses set without one, such as an
 * unmatched route: `404 {"detail":"Not Found"}`.
 */
export function renderErrors(logger: Logger): Middleware {
  return async function errorRenderer(ctx, next) {
    try {
      await next();
      // Statuses set without a body: no route matched (404), or the router's 405/501 with its Allow header.
      if (ctx.status >= 400 && ctx.body == null) {
        const status = ctx.status;
        ctx.body = { detail: STATUS_CODES[status] ?? 'Error' };
        ctx.status = status;
      }
    } catch (caught) {
      const err = (caught ?? {}) as StatusError;
      if (caught instanceof HttpError) {
        ctx.status = caught.status;
        ctx.body = { detail: caught.detail };
        return;
      }
      const status = typeof err.status === 'number' ? err.status : 500;
      if (status >= 400 && status < 500 && err.expose !== false) {
        ctx.status = status;
        ctx.body = { detail: describeClientError(status, err) };
        return;
      }
      if (isDatabaseUnavailable(err)) {
        logger.warn('database unavailable', { err: caught, method: ctx.method, path: ctx.path });
        ctx.status = 503;
        ctx.set('Retry-After', '1');
        ctx.body = { detail: 'Database unavailable, try again shortly' };
        return;
      }
      ctx.status = 500;
      ctx.body = { detail: 'Internal Server Error' };
      ctx.app.emit('error', caught, ctx);
    }
  };
}

function describeClientError(status: number, err: StatusError): string {
  switch (status) {
    case 413:
      return 'Request body too large';
    case 415:
      return 'Unsupported Media Type';
    default:
      return typeof err.message === 'string' && err.message !== '' ? err.message : 'Bad Request';
  }
}

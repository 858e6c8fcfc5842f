import type { Context, Middleware } from 'koa';

/**
 * The dashboard's policy: scripts, styles, images, fonts and connections (the WebSocket included) from
 * this origin only, nothing inline, no plugins, never framed.
 */
export const DASHBOARD_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The API page's policy: the dashboard's, but Swagger UI draws its icons from data: URLs in its
 * stylesheet, so images may also come from those. Scripts, styles and connections still come from this
 * origin only (the page's start-up script is a file, not inline), and nothing from another origin.
 */
export const DOCS_POLICY = DASHBOARD_POLICY.replace("img-src 'self'", "img-src 'self' data:");

/** The headers every page and file of the dashboard and of /docs carries, with the page's own policy. */
export function setPageHeaders(ctx: Context, policy: string): void {
  ctx.set('Content-Security-Policy', policy);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Frame-Options', 'DENY');
}

/**
 * `X-Content-Type-Options: nosniff` on every answer, API and errors included: a browser never reads a JSON
 * (or OTLP) answer as anything but its declared type. Pages add their own headers (setPageHeaders).
 */
export function noSniff(): Middleware {
  return async function noSniffHeader(ctx, next) {
    ctx.set('X-Content-Type-Options', 'nosniff');
    return next();
  };
}

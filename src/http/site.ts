import type { IncomingMessage } from 'node:http';
import type { Middleware } from 'koa';
import { HttpError } from '../errors';

/** The names a browser may reach the server by, and the origins whose pages may use it. */
export interface SiteRules {
  /** Host names (any port); `*` allows any. */
  allowedHosts: readonly string[];
  /** Origins besides the server's own (CORS_ORIGINS); `*` allows any. */
  corsOrigins: readonly string[];
}

/** Whether requests come from where they should, as a browser shows it: the Host it was sent to, the Origin of the page. */
export interface SiteCheck {
  /** Whether a `Host` header names this server. A request without one (HTTP/1.0, no browser) passes. */
  hostAllowed(host: string | undefined): boolean;
  /** Whether a page of `origin` may use the server: one of CORS_ORIGINS, or the server's own origin (the one `host` names). */
  originAllowed(origin: string, host: string | undefined): boolean;
}

// Methods that write: a page of another origin must not send them (reading is what CORS already keeps from it).
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `Example.com.:8765` → `example.com`; `[::1]:8765` → `::1`. */
export function hostName(host: string): string {
  let name = host.trim().toLowerCase();
  if (name.startsWith('[')) name = name.slice(1, name.includes(']') ? name.indexOf(']') : undefined);
  else if (name.split(':').length === 2) name = name.slice(0, name.indexOf(':'));
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

// A Host header with the port its scheme implies left out, as an origin's `host` is written.
function hostAsInOrigin(host: string, protocol: string): string {
  const lower = host.trim().toLowerCase();
  const defaultPort = protocol === 'https:' ? ':443' : protocol === 'http:' ? ':80' : undefined;
  return defaultPort && lower.endsWith(defaultPort) ? lower.slice(0, -defaultPort.length) : lower;
}

export function siteCheck({ allowedHosts, corsOrigins }: SiteRules): SiteCheck {
  const anyHost = allowedHosts.includes('*');
  const hosts = new Set(allowedHosts.map(hostName));
  const anyOrigin = corsOrigins.includes('*');
  const origins = new Set(corsOrigins);
  return {
    hostAllowed: (host) => host === undefined || host === '' || anyHost || hosts.has(hostName(host)),
    originAllowed: (origin, host) => {
      if (anyOrigin || origins.has(origin)) return true;
      if (!host) return false;
      try {
        const url = new URL(origin);
        return url.origin === origin && url.host === hostAsInOrigin(host, url.protocol);
      } catch {
        return false;
      }
    },
  };
}

const misdirected = (host: string) => new HttpError(421, `Host not allowed: ${hostName(host)} is not a name this server answers to (see ALLOWED_HOSTS)`);
const foreignOrigin = (origin: string) => new HttpError(403, `Origin not allowed: ${origin} (see CORS_ORIGINS)`);

/**
 * Keeps web pages of other sites from using the server through a visitor's browser. A request whose `Host`
 * is not one of the server's names is refused with 421, so a page of a name rebound to this address (DNS
 * rebinding) reads nothing; `GET /health`, which holds nothing, answers whatever the Host, for probes by
 * address. A write sent by a page of another origin than the allowed ones is refused with 403.
 */
export function sameSiteOnly(check: SiteCheck): Middleware {
  return async function sameSite(ctx, next) {
    const host = ctx.get('Host');
    if (ctx.path !== '/health' && !check.hostAllowed(host)) throw misdirected(host);
    const origin = ctx.get('Origin');
    if (origin && WRITES.has(ctx.method) && !check.originAllowed(origin, host)) throw foreignOrigin(origin);
    return next();
  };
}

/**
 * The same for a WebSocket upgrade, where the Origin counts whatever the method: a page of another origin
 * may not open the feed (browsers let any page open a WebSocket anywhere and read what comes). Throws the
 * refusal. A request without Origin comes from a program, not a page, and passes.
 */
export function checkUpgradeSite(check: SiteCheck, request: IncomingMessage): void {
  const host = request.headers.host;
  if (!check.hostAllowed(host)) throw misdirected(host!);
  const origin = request.headers.origin;
  if (origin && !check.originAllowed(origin, host)) throw foreignOrigin(origin);
}

import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

/** Debian's Chromium; override with CHROMIUM_PATH. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Headless Chromium, as the dashboard tests drive it. Launch once per file; close in afterAll. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface DashboardPage {
  page: Page;
  /** Uncaught exceptions in the page; a test ends by expecting none. */
  errors: Error[];
  /** Every URL the page requested, WebSockets included. */
  requests: string[];
  /** The URLs of the WebSockets the page opened, in order. */
  sockets: string[];
  close(): Promise<void>;
}

/**
 * A fresh browser context (its own sessionStorage and clipboard) with one page at `url`, recording page
 * errors, requests and WebSockets.
 */
export async function openPage(browser: Browser, url: string, options: BrowserContextOptions = {}): Promise<DashboardPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', ...options });
  const page = await context.newPage();
  // Shorter than jest's test timeout, so a failing wait names its step.
  page.setDefaultTimeout(10_000);
  const errors: Error[] = [];
  const requests: string[] = [];
  const sockets: string[] = [];
  page.on('pageerror', (error) => errors.push(error));
  page.on('request', (request) => requests.push(request.url()));
  page.on('websocket', (socket) => sockets.push(socket.url()));
  await page.goto(url);
  return { page, errors, requests, sockets, close: () => context.close() };
}

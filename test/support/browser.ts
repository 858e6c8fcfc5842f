import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { opened } from './openResources';

/** Debian's Chromium; override with CHROMIUM_PATH. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Headless Chromium, as the dashboard tests drive it, with `extraArgs` (host resolver rules, say). Launch once per file (useBrowser); close in afterAll. */
export async function launchBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  const browser = await chromium.launch({
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
      ...extraArgs,
    ],
  });
  browser.once('disconnected', opened(browser, 'a browser'));
  return browser;
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
  page.setDefaultTimeout(20_000);
  const errors: Error[] = [];
  const requests: string[] = [];
  const sockets: string[] = [];
  page.on('pageerror', (error) => errors.push(error));
  page.on('request', (request) => requests.push(request.url()));
  page.on('websocket', (socket) => sockets.push(socket.url()));
  await page.goto(url);
  return { page, errors, requests, sockets, close: () => context.close() };
}

/** One browser for the test file: launched in beforeAll, closed in afterAll. */
export function useBrowser(extraArgs: readonly string[] = []): { readonly browser: Browser } {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchBrowser(extraArgs);
  });
  afterAll(() => browser?.close());
  return {
    get browser() {
      if (!browser) throw new Error('the browser is launched in beforeAll');
      return browser;
    },
  };
}

/**
 * The pages a test file's tests open, each closed after its test, which fails if any page threw an uncaught
 * exception. Pass each page opened through the function returned.
 */
export function closedAfterEach(): (dashboard: DashboardPage) => DashboardPage {
  const pages: DashboardPage[] = [];
  afterEach(async () => {
    const open = pages.splice(0);
    await Promise.all(open.map((dashboard) => dashboard.close()));
    expect(open.flatMap((dashboard) => dashboard.errors.map(String))).toEqual([]);
  });
  return (dashboard) => {
    pages.push(dashboard);
    return dashboard;
  };
}

/** Resolves once the page's live feed is connected. */
export const connected = (page: Page): Promise<void> => page.locator('#connection[data-connection="connected"]').waitFor();

import type { Page } from 'playwright-core';
import { connected, openPage, useBrowser } from './support/browser';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

// The dashboard with a key of the database that may only read: what a team gives the people who watch.

const database = useTestDatabase();
const { instance, api } = useInstance(database);
const chromium = useBrowser();
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const keys: Record<string, string> = {};

const row = (page: Page, id: string) => page.locator(`.session-row[data-session-id=${JSON.stringify(id)}]`);
const item = (page: Page, text: string) => page.locator('.timeline > .event').filter({ hasText: text });

beforeAll(async () => {
  keys.admin = (await api.post('/keys', { name: 'admin', scopes: ['admin'] })).body.secret;
  for (const [name, scope] of [
    ['writer', 'ingest'],
    ['viewer', 'read'],
  ]) {
    keys[name!] = (await api.post('/keys', { name, scopes: [scope] }, bearer(keys.admin!))).body.secret;
  }
});

describe('the dashboard with a read key', () => {
  it('when a read key is entered, then the list, a session and its live events show, and /me tells the page it may not decide', async () => {
    expect((await api.post('/sessions', { session_id: 'watched', session_name: 'Watched session' }, bearer(keys.writer!))).status).toBe(201);
    const dashboard = await openPage(chromium.browser, `${instance.baseUrl}/`);
    try {
      const { page } = dashboard;
      const dialog = page.locator('#key-dialog');
      await dialog.waitFor();
      await page.getByRole('textbox', { name: 'Key' }).fill(keys.viewer!);
      await dialog.getByRole('button', { name: 'Connect' }).click();
      await connected(page);
      await row(page, 'watched').locator('.row-link').click();
      const event = { event_type: 'message', role: 'user', content: [{ type: 'text', text: 'seen by a viewer' }] };
      expect((await api.post(sessionPath('watched', '/events'), event, bearer(keys.writer!))).status).toBe(201);
      await item(page, 'seen by a viewer').waitFor();
      const me = await page.evaluate(async () => {
        const { sessionStorage } = globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } };
        return (await fetch('/me', { headers: { authorization: `Bearer ${sessionStorage.getItem('asm.apiKey')}` } })).json();
      });
      expect(me).toEqual({ key: 'viewer', scopes: ['read'], keys_required: true });
      // Revoked, the key's feed is closed, and the page asks for another key.
      expect((await api.delete('/keys/viewer', bearer(keys.admin!))).status).toBe(200);
      await dialog.filter({ hasText: 'That key was not accepted' }).waitFor();
      expect(dashboard.errors).toEqual([]);
    } finally {
      await dashboard.close();
    }
  });
});

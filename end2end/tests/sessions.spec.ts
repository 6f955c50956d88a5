import { readFileSync } from 'node:fs';
import { expect, request, test } from '@playwright/test';
import { DEMO_PASSWORD, hydrated, stateOf } from './helpers';

// The Sessions page as the admin (stored state). The demo roles' stored sessions are never
// revoked here (the other specs use them): what is revoked is an API session opened for it.
test.use({ storageState: stateOf('admin') });

/** Opens an API (refresh-token) session for `username` with `userAgent`, through the REST API
 * as an API client calls it (no cookies). */
async function apiSession(baseURL: string | undefined, username: string, userAgent: string) {
  const api = await request.newContext({ baseURL, storageState: undefined, userAgent });
  const res = await api.post('/api/v1/auth/token', { data: { username, password: DEMO_PASSWORD } });
  expect(res.status()).toBe(200);
  await api.dispose();
}

test('an admin sees live sessions', async ({ page }) => {
  await page.goto('/');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sessions' }).click();
  await expect(page).toHaveURL('/sessions');
  await expect(page.getByRole('table', { name: 'Sessions' }).getByRole('cell', { name: 'admin', exact: true }).first())
    .toBeVisible();
});

test('an admin filters sessions by user and kind; the URL keeps them and the CSV has the same sessions', async ({ page, baseURL }) => {
  await apiSession(baseURL, 'operator', `e2e-filter-${Date.now()}`);
  await page.goto('/');
  await page.goto('/sessions');
  await hydrated(page);
  const filters = page.getByRole('form', { name: 'Filter sessions' });
  const table = page.getByRole('table', { name: 'Sessions' });
  await expect(table.getByRole('cell', { name: 'admin', exact: true }).first()).toBeVisible();

  await filters.getByLabel('User', { exact: true }).fill('OPER');
  await filters.getByLabel('Kind', { exact: true }).selectOption('api');
  await filters.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/\/sessions\?user=OPER&kind=api(&|$)/);
  await expect(table.getByRole('cell', { name: 'admin', exact: true })).toHaveCount(0);
  await expect(table.getByRole('cell', { name: 'operator', exact: true }).first()).toBeVisible();
  await expect(table.getByRole('cell', { name: 'browser', exact: true })).toHaveCount(0);

  // A reload (or the URL shared) shows the same filtered list.
  await page.reload();
  await hydrated(page);
  await expect(filters.getByLabel('User', { exact: true })).toHaveValue('OPER');
  await expect(filters.getByLabel('Kind', { exact: true })).toHaveValue('api');
  await expect(table.getByRole('cell', { name: 'admin', exact: true })).toHaveCount(0);
  await expect(table.getByRole('cell', { name: 'operator', exact: true }).first()).toBeVisible();

  const link = page.getByRole('link', { name: 'Export CSV' });
  await expect(link).toHaveAttribute('href', /^\/downloads\/sessions\.csv\?user=OPER&kind=api(&|$)/);
  const downloading = page.waitForEvent('download');
  await link.click();
  const download = await downloading;
  expect(download.suggestedFilename()).toMatch(/^sessions-\d{8}T\d{6}Z\.csv$/);
  const lines = readFileSync(await download.path(), 'utf8').trimEnd().split('\r\n');
  expect(lines[0]).toBe('username,kind,address,user_agent,created_at,last_activity_at,expires_at,user_id,id');
  expect(lines.length).toBeGreaterThan(1);
  for (const line of lines.slice(1)) {
    expect(line.split(',').slice(0, 2)).toEqual(['operator', 'api']);
  }
});

test('a filter that matches nothing shows the empty state', async ({ page }) => {
  await page.goto('/');
  await page.goto('/sessions?user=nobody-has-this-name');
  await expect(page.getByRole('table', { name: 'Sessions' })).toContainText('No live sessions match these filters.');
  await expect(page.getByRole('link', { name: 'Next page' })).toHaveCount(0);
});

test('an admin revokes a session once confirmed', async ({ page, baseURL }) => {
  const agent = `e2e-revoke-${Date.now()}`;
  await apiSession(baseURL, 'auditor', agent);
  await page.goto('/');
  await page.goto('/sessions?user=auditor&kind=api');
  await hydrated(page);
  const row = page.getByRole('table', { name: 'Sessions' }).getByRole('row').filter({ hasText: agent });
  await expect(row).toHaveCount(1);
  await row.getByRole('button', { name: 'Revoke', exact: true }).click();
  await page.getByRole('alertdialog', { name: 'Confirm' }).getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Revoked a session of auditor.' })).toBeVisible();
  await expect(row).toHaveCount(0);
});

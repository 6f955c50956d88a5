import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { hydrated, stateOf } from './helpers';

// The Users page against the demo data `make test` seeds into the e2e database, as the admin
// (and, last, as the viewer).
test.use({ storageState: stateOf('admin') });

test('an admin opens Users and creates a user', async ({ page }) => {
  await page.goto('/');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
  await expect(page).toHaveURL('/users');
  await expect(page.getByRole('heading', { name: 'Users', level: 1 })).toBeVisible();
  const table = page.getByRole('table', { name: 'Users' });
  await expect(table.getByRole('cell', { name: 'admin', exact: true }).first()).toBeVisible();

  const username = `e2e-user-${Date.now()}`;
  const form = page.getByRole('form', { name: 'Create user' });
  await form.getByLabel('Username', { exact: true }).fill(username);
  await form.getByLabel('E-mail', { exact: true }).fill(`${username}@example.com`);
  await form.getByLabel('Role', { exact: true }).selectOption('operator');
  await form.getByLabel('Password', { exact: true }).fill('an e2e password of some length');
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(table.getByRole('cell', { name: username, exact: true })).toBeVisible();

  // The same username again is refused beside the field.
  await form.getByLabel('Username', { exact: true }).fill(username);
  await form.getByLabel('E-mail', { exact: true }).fill(`other-${username}@example.com`);
  await form.getByLabel('Password', { exact: true }).fill('an e2e password of some length');
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(form.getByText('this username is taken')).toBeVisible();
});

test('an admin filters users by role; the URL keeps the filter and the CSV has the same users', async ({ page }) => {
  await page.goto('/');
  await page.goto('/users');
  await hydrated(page);
  const filters = page.getByRole('form', { name: 'Filter users' });
  const table = page.getByRole('table', { name: 'Users' });
  await expect(table.getByRole('cell', { name: 'operator', exact: true }).first()).toBeVisible();

  await filters.getByLabel('Role', { exact: true }).selectOption('auditor');
  await filters.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/\/users\?(.*&)?role=auditor(&|$)/);
  await expect(table.getByRole('cell', { name: 'operator', exact: true })).toHaveCount(0);
  await expect(table.getByRole('cell', { name: 'auditor', exact: true }).first()).toBeVisible();

  // Back and forward move between the unfiltered and the filtered list.
  await page.goBack();
  await expect(page).toHaveURL('/users');
  await expect(table.getByRole('cell', { name: 'operator', exact: true }).first()).toBeVisible();
  await page.goForward();
  await expect(page).toHaveURL(/role=auditor/);
  await expect(table.getByRole('cell', { name: 'operator', exact: true })).toHaveCount(0);

  // A reload (or the URL shared) shows the same filtered list.
  await page.reload();
  await hydrated(page);
  await expect(filters.getByLabel('Role', { exact: true })).toHaveValue('auditor');
  await expect(table.getByRole('cell', { name: 'operator', exact: true })).toHaveCount(0);
  await expect(table.getByRole('cell', { name: 'auditor', exact: true }).first()).toBeVisible();

  const link = page.getByRole('link', { name: 'Export CSV' });
  await expect(link).toHaveAttribute('href', /^\/downloads\/users\.csv\?(.*&)?role=auditor(&|$)/);
  const downloading = page.waitForEvent('download');
  await link.click();
  const download = await downloading;
  expect(download.suggestedFilename()).toMatch(/^users-\d{8}T\d{6}Z\.csv$/);
  const lines = readFileSync(await download.path(), 'utf8').trimEnd().split('\r\n');
  expect(lines[0]).toBe('username,email,role,status,two_factor,last_sign_in,locked_until,created_at,id');
  expect(lines.some((line) => line.startsWith('auditor,'))).toBe(true);
  for (const line of lines.slice(1)) {
    expect(line.split(',')[2]).toBe('auditor');
  }
});

test('a search that matches nobody shows the empty state', async ({ page }) => {
  await page.goto('/');
  await page.goto('/users?q=nobody-has-this-name');
  await expect(page.getByRole('table', { name: 'Users' })).toContainText('No users match these filters.');
  await expect(page.getByRole('link', { name: 'Next page' })).toHaveCount(0);
});

test.describe('as the viewer', () => {
  test.use({ storageState: stateOf('viewer') });

  test('a viewer has no Users link and /users shows no user data', async ({ page }) => {
    await page.goto('/');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await expect(nav.getByRole('link', { name: 'Dashboard' })).toBeVisible();
    await expect(nav.getByRole('link', { name: 'Users' })).toHaveCount(0);
    await expect(nav.getByRole('link', { name: 'Sessions' })).toHaveCount(0);
    await page.goto('/users');
    await expect(page.getByRole('alert')).toContainText('You do not have permission');
    await expect(page.getByRole('table', { name: 'Users' })).toHaveCount(0);
    await expect(page.getByRole('form', { name: 'Create user' })).toHaveCount(0);
  });
});

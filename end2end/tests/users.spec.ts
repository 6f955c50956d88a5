import { expect, test } from '@playwright/test';
import { signIn } from './helpers';

// The Users page against the demo data `make test` seeds into the e2e database.

test('an admin opens Users and creates a user', async ({ page }) => {
  await signIn(page, 'admin');
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

test('an admin sees live sessions', async ({ page }) => {
  await signIn(page, 'admin');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sessions' }).click();
  await expect(page).toHaveURL('/sessions');
  await expect(page.getByRole('table', { name: 'Sessions' }).getByRole('cell', { name: 'admin', exact: true }).first())
    .toBeVisible();
});

test('a viewer has no Users link and /users shows no user data', async ({ page }) => {
  await signIn(page, 'viewer');
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Dashboard' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Users' })).toHaveCount(0);
  await expect(nav.getByRole('link', { name: 'Sessions' })).toHaveCount(0);
  await page.goto('/users');
  await expect(page.getByRole('alert')).toContainText('You do not have permission');
  await expect(page.getByRole('table', { name: 'Users' })).toHaveCount(0);
  await expect(page.getByRole('form', { name: 'Create user' })).toHaveCount(0);
});

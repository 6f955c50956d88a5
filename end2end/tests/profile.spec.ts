import { expect, test } from '@playwright/test';
import { hydrated, stateOf } from './helpers';

test.use({ storageState: stateOf('operator') });

test('the profile lists this session and rejects a wrong current password', async ({ page }) => {
  await page.goto('/');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Profile' }).click();
  await expect(page.getByRole('heading', { name: 'Profile', level: 1 })).toBeVisible();
  const sessions = page.getByRole('table', { name: 'Your sessions' });
  await expect(sessions.getByText('This session')).toBeVisible();
  await hydrated(page);

  await page.getByLabel('Current password').fill('not my password at all');
  await page.getByLabel('New password', { exact: true }).fill('another long password');
  await page.getByLabel('Repeat new password').fill('another long password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText('This is not your current password.')).toBeVisible();
  await expect(page.getByLabel('Signed in as')).toContainText('operator');
});

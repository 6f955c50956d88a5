import { expect, type Page } from '@playwright/test';

/** The demo users' password (`make test` seeds them with DEMO_PASSWORD). */
export const DEMO_PASSWORD = process.env.DEMO_PASSWORD ?? 'demo-password-2026';

/** Signs in through the login page and waits for the dashboard (or `landing`). */
export async function signIn(page: Page, username: string, landing = '/') {
  await page.goto('/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(landing);
  await expect(page.getByLabel('Signed in as')).toContainText(username);
}

import { expect, test } from '@playwright/test';
import { hydrated, stateOf } from './helpers';

// The dashboard against the demo data `make test` seeds into the e2e database, as the viewer.
test.use({ storageState: stateOf('viewer') });

test('the dashboard shows figures from the database', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Dashboard', level: 1 })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }))
    .toHaveAttribute('aria-current', 'page');
  const byStatus = page.getByRole('table', { name: 'Payments today by status' });
  await expect(byStatus.getByRole('row')).toHaveCount(6); // header + five statuses
  await expect(page.getByLabel('Active banks')).toHaveText('23');
  await expect(page.getByRole('img', { name: /Daily volume in USD/ })).toBeVisible();
});

test('the page hydrates: the currency switch redraws the chart', async ({ page }) => {
  await page.goto('/');
  await hydrated(page);
  const eur = page.getByRole('group', { name: 'Currency' }).getByRole('button', { name: 'EUR' });
  // Clicks before the wasm has hydrated the page do nothing; retry until one lands.
  await expect(async () => {
    await eur.click();
    await expect(eur).toHaveAttribute('aria-pressed', 'true', { timeout: 500 });
  }).toPass({ timeout: 20_000 });
  await expect(page.getByRole('heading', { name: /Volume over 30 days, EUR/ })).toBeVisible();
  await expect(page.getByRole('img', { name: /Daily volume in EUR/ })).toBeVisible();
});

test('the dark theme sticks across page loads', async ({ page }) => {
  await page.goto('/');
  const toggle = page.getByRole('button', { name: 'Dark theme' });
  await expect(async () => {
    await toggle.click();
    await expect(toggle).toHaveAttribute('aria-pressed', 'true', { timeout: 500 });
  }).toPass({ timeout: 20_000 });
  await expect(page.locator('html')).toHaveClass(/dark/);
  await page.reload();
  await expect(page.locator('html')).toHaveClass(/dark/); // rendered dark by the server
});

test('an unknown address gets a not-found page', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await page.getByRole('link', { name: 'Back to the dashboard' }).click();
  await expect(page.getByRole('heading', { name: 'Dashboard', level: 1 })).toBeVisible();
});

test('each figure opens the list it counts, filtered @no-js', async ({ page }) => {
  await page.goto('/');
  const pending = page.getByRole('table', { name: 'Payments today by status' }).getByRole('row').filter({ hasText: 'pending' });
  const count = (await pending.getByRole('link').textContent())!.trim();
  await pending.getByRole('link').click();
  await expect(page).toHaveURL(/\/payments\?status=pending&from=\d{4}-\d{2}-\d{2}T00:00$/);
  await expect(page.getByRole('status').filter({ hasText: /payments?$/ })).toHaveText(
    `${Number(count).toLocaleString('en-US')} payment${count === '1' ? '' : 's'}`,
  );
  await page.goto('/');
  await page.getByRole('link', { name: /Active banks/ }).click();
  await expect(page).toHaveURL('/banks?active=true');
  await expect(page.getByRole('table', { name: 'Banks' }).locator('tbody tr')).toHaveCount(23);
});

import { expect, test } from '@playwright/test';
import { stateOf } from './helpers';

// Settlement batches against the demo data, as the viewer; read-only, so also without
// JavaScript (@no-js).
test.use({ storageState: stateOf('viewer') });

test('a batch shows its netting: every bank, net positions summing to zero @no-js', async ({ page }) => {
  await page.goto('/settlements?status=settled&currency=EUR&sort=largest');
  const batches = page.getByRole('table', { name: 'Settlement batches' });
  const first = batches.getByRole('row').nth(1).getByRole('link').first();
  const reference = (await first.textContent())!.trim();
  expect(reference).toMatch(/^NET-\d{8}-EUR$/);
  await first.click();

  await expect(page.getByRole('heading', { name: `Batch ${reference}` })).toBeVisible();
  const netting = page.getByRole('table', { name: 'Netting' });
  const banks = netting.locator('tbody tr').filter({ has: page.getByRole('link', { name: 'payments' }) });
  expect(await banks.count()).toBeGreaterThan(1);
  await expect(netting.locator('tbody tr').last()).toContainText('All banks');
  await expect(page.getByRole('region', { name: 'Netting summary' })).toContainText('✓ the net positions sum to zero');
  await expect(page.getByRole('alert')).toHaveCount(0);

  // From a bank's row, the payments behind its position: this batch's, of that bank.
  await banks.first().getByRole('link', { name: 'payments' }).click();
  await expect(page).toHaveURL(/\/payments\?batch=[0-9a-f-]+&bank=[0-9a-f-]+&currency=EUR$/);
  await expect(page.getByRole('table', { name: 'Payments' }).locator('tbody tr').first()).toContainText('settled');
});

test('the batch the demo data gets wrong is flagged @no-js', async ({ page }) => {
  await page.goto('/settlements?currency=USD&sort=oldest');
  await page.getByRole('table', { name: 'Settlement batches' }).getByRole('row').nth(1).getByRole('link').first().click();
  await expect(page.getByRole('alert')).toContainText('The stored net amount is');
});

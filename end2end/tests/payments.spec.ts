import { readFileSync } from 'node:fs';
import { expect, test, type Browser } from '@playwright/test';
import { hydrated, stateOf } from './helpers';

// The Payments pages against the demo data. Tests tagged @no-js also run in the project
// without JavaScript: the server-rendered list, its GET filters and a payment's page work
// without the wasm.

/** A page signed in as `role` (its stored session). */
async function as(browser: Browser, role: string) {
  const context = await browser.newContext({ storageState: stateOf(role) });
  return { context, page: await context.newPage() };
}

test.describe('as a viewer', () => {
  test.use({ storageState: stateOf('viewer') });

  test('a viewer finds a payment by its reference and reads its timeline @no-js', async ({ page }) => {
    await page.goto('/payments?status=settled');
    const table = page.getByRole('table', { name: 'Payments' });
    const first = table.getByRole('row').nth(1).getByRole('link').first();
    const reference = (await first.textContent())!.trim();
    expect(reference).toMatch(/^DT\d{8}\d{8}$/);

    await page.goto('/payments');
    const filters = page.getByRole('form', { name: 'Filter payments' });
    await filters.getByLabel('Reference, key or SWIFT id').fill(reference);
    await filters.getByRole('button', { name: 'Apply' }).click();
    await expect(page).toHaveURL(new RegExp(`/payments\\?(.*&)?q=${reference}(&|$)`));
    await expect(page.getByRole('status').filter({ hasText: /^1 payment$/ })).toBeVisible();
    await table.getByRole('link', { name: reference }).click();

    await expect(page.getByRole('heading', { name: `Payment ${reference}` })).toBeVisible();
    const timeline = page.getByRole('list', { name: 'Timeline' });
    await expect(timeline.getByRole('listitem').first()).toContainText('Created');
    await expect(timeline).toContainText('Settled');
    await expect(timeline).toContainText('transaction log');
    await expect(timeline).toContainText(/Debit .* on account/);
    await expect(page.getByRole('button', { name: 'Cancel payment' })).toHaveCount(0);
  });

  test('the filters stay in the URL and a refused value says which @no-js', async ({ page }) => {
    await page.goto('/payments?status=pending&status=processing&sort=largest');
    const filters = page.getByRole('form', { name: 'Filter payments' });
    await expect(filters.getByRole('checkbox', { name: 'pending' })).toBeChecked();
    await expect(filters.getByRole('checkbox', { name: 'processing' })).toBeChecked();
    await expect(filters.getByRole('checkbox', { name: 'settled' })).not.toBeChecked();
    const statuses = await page.getByRole('table', { name: 'Payments' }).locator('tbody tr td:nth-child(3)').allTextContents();
    expect(statuses.length).toBeGreaterThan(0);
    for (const s of statuses) expect(['pending', 'processing']).toContain(s.trim());

    await page.goto('/payments?min_risk=500');
    await expect(page.getByRole('alert')).toContainText('min_risk: a whole number from 0 to 100');
  });

  test('the server refuses a viewer who calls cancel anyway', async ({ page }) => {
    await page.goto('/payments?status=pending');
    const href = await page.getByRole('table', { name: 'Payments' }).getByRole('row').nth(1).getByRole('link').first().getAttribute('href');
    const id = href!.split('/').pop()!;
    const res = await page.request.post('/api/payments/cancel_payment', {
      form: { id, reason: 'not mine to cancel' },
    });
    expect(res.status()).toBe(403);
    await page.goto(href!);
    await expect(page.getByRole('heading', { name: /^Payment / })).toBeVisible();
    await expect(page.getByRole('main').locator('header .badge')).toHaveText('pending');
  });
});

test('an operator cancels a pending payment with a reason; the timeline and the audit log show it', async ({ browser }) => {
  const { context, page } = await as(browser, 'operator');
  await page.goto('/payments?status=pending&sort=oldest');
  const link = page.getByRole('table', { name: 'Payments' }).getByRole('row').nth(1).getByRole('link').first();
  const reference = (await link.textContent())!.trim();
  await link.click();
  await expect(page.getByRole('heading', { name: `Payment ${reference}` })).toBeVisible();
  await hydrated(page);

  const reason = `Customer recalled the instruction (e2e ${Date.now()})`;
  await page.getByLabel('Reason for cancelling').fill(reason);
  await page.getByRole('button', { name: 'Cancel payment' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Confirm' });
  await expect(confirm).toContainText(`Cancel payment ${reference}?`);
  await confirm.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByRole('status').filter({ hasText: `Payment ${reference} cancelled.` })).toBeVisible();
  await expect(page.getByRole('main').locator('header .badge')).toHaveText('cancelled');
  await expect(page.getByRole('button', { name: 'Cancel payment' })).toHaveCount(0);
  const timeline = page.getByRole('list', { name: 'Timeline' });
  await expect(timeline).toContainText(`by operator: ${reason}`);
  await expect(timeline).toContainText('payment.cancel by operator (success)');
  const id = page.url().split('/').pop()!;
  await context.close();

  // The auditor finds the cancellation in the audit log, and from it the payment.
  const auditor = await as(browser, 'auditor');
  await auditor.page.goto(`/audit?action=payment.cancel&resource_id=${id}`);
  const rows = auditor.page.getByRole('table', { name: 'Audit log' }).locator('tbody tr');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('operator');
  await auditor.context.close();
});

test('an auditor downloads the filtered payments as CSV', async ({ browser }) => {
  const { context, page } = await as(browser, 'auditor');
  await page.goto('/payments?currency=EUR&status=settled');
  const link = page.getByRole('link', { name: 'Export CSV' });
  await expect(link).toHaveAttribute('href', '/downloads/payments.csv?status=settled&currency=EUR');
  const downloading = page.waitForEvent('download');
  await link.click();
  const download = await downloading;
  expect(download.suggestedFilename()).toMatch(/^payments-\d{8}T\d{6}Z\.csv$/);
  const lines = readFileSync(await download.path(), 'utf8').trimEnd().split('\r\n');
  expect(lines[0]).toBe('created_at,payment_reference,status,amount,currency,sender_bic,receiver_bic,risk_score,compliance_status,id');
  expect(lines.length).toBeGreaterThan(1);
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    expect(cells[2]).toBe('settled');
    expect(cells[4]).toBe('EUR');
  }
  await context.close();
});

import { expect, test, type Browser } from '@playwright/test';
import { hydrated, stateOf } from './helpers';

// The compliance review queue and a case against the demo data (the seed leaves the newest
// payments waiting for a review of every kind). Tests tagged @no-js also run without
// JavaScript: the queue, its GET filters and a case's page are server-rendered.

/** A page signed in as `role` (its stored session). */
async function as(browser: Browser, role: string) {
  const context = await browser.newContext({ storageState: stateOf(role) });
  return { context, page: await context.newPage() };
}

test('a reviewer claims a case from the queue, fails it with a note, and the audit log shows the note', async ({ browser }) => {
  const { context, page } = await as(browser, 'operator');
  await page.goto('/');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Compliance' }).click();
  await expect(page.getByRole('heading', { name: 'Compliance review', level: 1 })).toBeVisible();
  await expect(page.getByRole('form', { name: 'Filter compliance checks' }).getByLabel('Show')).toHaveValue('true');
  const table = page.getByRole('table', { name: 'Compliance checks' });
  // Oldest first: the first row waits longest. Open an AML case (its fail decides at once).
  const link = table.getByRole('link', { name: /^AML check of DT\d+$/ }).first();
  const name = (await link.getAttribute('aria-label'))!;
  await link.click();
  await expect(page.getByRole('heading', { name })).toBeVisible();
  await expect(page.getByRole('table', { name: 'Earlier checks of the sender bank' })).toBeVisible();
  await hydrated(page);
  const id = page.url().split('/').pop()!;

  const review = page.getByRole('region', { name: 'Review', exact: true });
  await expect(review).toContainText('Nobody is reviewing this case.');
  await review.getByRole('button', { name: 'Claim this case' }).click();
  await page.getByRole('alertdialog', { name: 'Confirm' }).getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByRole('status').filter({ hasText: /^You hold this case until/ })).toBeVisible();
  await expect(review).toContainText('You are reviewing this case until');
  await expect(review.getByRole('button', { name: 'Renew claim' })).toBeVisible();

  const note = `Structuring confirmed with the sender bank (e2e ${Date.now()})`;
  const form = page.getByRole('form', { name: 'Decide this case' });
  await form.getByLabel('Decision').selectOption('fail');
  await form.getByLabel('Review note').fill(note);
  await form.getByRole('button', { name: 'Record decision' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Confirm' });
  await expect(confirm).toContainText('Fail this check?');
  await confirm.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Check decided: fail. The payment is failed.' })).toBeVisible();
  await expect(review).toContainText('This check has a decision');
  await expect(page.getByRole('form', { name: 'Decide this case' })).toHaveCount(0);
  await expect(page.getByRole('region', { name: 'Check', exact: true })).toContainText(note);
  await context.close();

  // The auditor finds the decision, with its note, in the audit log.
  const auditor = await as(browser, 'auditor');
  await auditor.page.goto(`/audit?action=compliance.review&resource_id=${id}`);
  const rows = auditor.page.getByRole('table', { name: 'Audit log' }).locator('tbody tr');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('operator');
  await rows.first().getByRole('link', { name: /^Row \d+$/ }).click();
  await expect(auditor.page.getByLabel('Metadata')).toContainText(note);
  await auditor.context.close();
});

test.describe('as an auditor', () => {
  test.use({ storageState: stateOf('auditor') });

  test('the queue and a case are read-only @no-js', async ({ page }) => {
    await page.goto('/compliance?check_type=sanctions&check_type=pep');
    const filters = page.getByRole('form', { name: 'Filter compliance checks' });
    await expect(filters.getByRole('checkbox', { name: 'Sanctions' })).toBeChecked();
    await expect(filters.getByRole('checkbox', { name: 'PEP' })).toBeChecked();
    const table = page.getByRole('table', { name: 'Compliance checks' });
    const link = table.getByRole('link', { name: /^(Sanctions|PEP) check of DT\d+$/ }).first();
    await link.click();
    await expect(page.getByRole('heading', { name: /^(Sanctions|PEP) check of DT\d+$/ })).toBeVisible();
    await expect(page.getByLabel('Flags')).toContainText('score');
    await expect(page.getByRole('button', { name: 'Claim this case' })).toHaveCount(0);
    await expect(page.getByRole('button', { name: 'Record decision' })).toHaveCount(0);
    await expect(page.getByRole('region', { name: 'Payment', exact: true }).getByRole('link', { name: /^DT\d+$/ })).toBeVisible();

    await page.goto('/compliance?min_risk=500');
    await expect(page.getByRole('alert')).toContainText('min_risk: a whole number from 0 to 100');
  });

  test('the server refuses an auditor who claims or decides anyway', async ({ page }) => {
    await page.goto('/compliance');
    const href = await page.getByRole('table', { name: 'Compliance checks' }).getByRole('row').nth(1).getByRole('link').first().getAttribute('href');
    const id = href!.split('/').pop()!;
    const claim = await page.request.post('/api/compliance/claim_case', { form: { id } });
    expect(claim.status()).toBe(403);
    const decide = await page.request.post('/api/compliance/review_case', {
      form: { id, decision: 'fail', note: 'not mine to decide at all' },
    });
    expect(decide.status()).toBe(403);
    await page.goto(href!);
    await expect(page.getByRole('region', { name: 'Review', exact: true })).toContainText('Nobody is reviewing this case.');
  });
});

test.describe('as a viewer', () => {
  test.use({ storageState: stateOf('viewer') });

  test('there is no Compliance page to open, and the server refuses the list', async ({ page }) => {
    await page.goto('/');
    await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Compliance' })).toHaveCount(0);
    const res = await page.request.post('/api/compliance/list_compliance', { form: {} });
    expect(res.status()).toBe(403);
  });
});

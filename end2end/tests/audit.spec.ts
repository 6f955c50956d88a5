import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { hydrated, stateOf } from './helpers';

// The audit log page against the demo data `make test` seeds into the e2e database.

test.describe('an auditor', () => {
  test.use({ storageState: stateOf('auditor') });

  test('filters the log, keeps the filter in the URL, pages on and opens a row', async ({ page }) => {
    await page.goto('/');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
    await expect(page.getByRole('heading', { name: 'Audit log', level: 1 })).toBeVisible();
    const table = page.getByRole('table', { name: 'Audit log' });
    await expect(page.getByRole('link', { name: 'Next page' })).toBeVisible();

    const filters = page.getByRole('form', { name: 'Filter the audit log' });
    await filters.getByLabel('Action').fill('auth.login');
    await filters.getByLabel('Result').selectOption('success');
    await filters.getByRole('button', { name: 'Apply' }).click();
    await expect(page).toHaveURL(/action=auth\.login/);
    await expect(page).toHaveURL(/result=success/);
    await expect(table.locator('tbody tr').first()).toContainText('auth.login');
    for (const row of await table.locator('tbody tr').allInnerTexts()) {
      expect(row).toContain('auth.login');
      expect(row).toContain('success');
    }
    await page.reload();
    await expect(filters.getByLabel('Action')).toHaveValue('auth.login');
    await expect(filters.getByLabel('Result')).toHaveValue('success');

    await table.getByRole('link', { name: /^Row \d+$/ }).first().click();
    await expect(page.getByRole('heading', { name: /^Audit row \d+$/ })).toBeVisible();
    await expect(page.getByText('auth.login', { exact: true })).toBeVisible();
    await expect(page.getByLabel('Metadata')).toBeVisible();
    // The row names a session, but Sessions is an admin page: no link an auditor cannot follow.
    await expect(page.getByRole('link', { name: 'Open the session page' })).toHaveCount(0);
  });

  test('verifies the chain and sees it intact against the anchor', async ({ page }) => {
    await page.goto('/audit');
    await hydrated(page);
    const panel = page.getByRole('region', { name: 'Verification' });
    await panel.getByRole('button', { name: 'Verify' }).click();
    await expect(panel.getByRole('status')).toContainText(
      /Intact: \d+ rows, head matches anchor of \d{4}-\d\d-\d\d/,
      { timeout: 60_000 },
    );
  });

  test('downloads the filtered rows, and the download is itself in the log', async ({ page }) => {
    await page.goto('/audit?action=auth.login');
    const links = page.getByRole('region', { name: 'Export' });
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      links.getByRole('link', { name: 'Export CSV' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^audit-\d{8}T\d{6}Z\.csv$/);
    const lines = readFileSync(await download.path(), 'utf8').trim().split(/\r?\n/);
    expect(lines[0]).toMatch(/^id,/);
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines.slice(1)) expect(line).toContain('auth.login');

    const [pack] = await Promise.all([
      page.waitForEvent('download'),
      links.getByRole('link', { name: 'Evidence pack' }).click(),
    ]);
    expect(pack.suggestedFilename()).toMatch(/^audit-evidence-.*\.tar$/);
    const tar = readFileSync(await pack.path());
    for (const name of ['audit-export.jsonl', 'verification.json', 'manifest.json']) {
      expect(tar.includes(Buffer.from(name))).toBe(true);
    }

    await page.goto('/audit?action=audit.export&actor=auditor');
    const exports = page.getByRole('table', { name: 'Audit log' }).locator('tbody tr');
    await expect(exports.first()).toContainText('audit.export');
    expect(await exports.count()).toBeGreaterThanOrEqual(2); // the CSV and the evidence pack
  });
});

test.describe('an operator', () => {
  test.use({ storageState: stateOf('operator') });

  test('has no Audit log link and cannot open the page or its downloads', async ({ page }) => {
    await page.goto('/');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await expect(nav.getByRole('link', { name: 'Dashboard' })).toBeVisible();
    await expect(nav.getByRole('link', { name: 'Audit log' })).toHaveCount(0);
    await page.goto('/audit');
    await expect(page.getByRole('alert')).toHaveText('You do not have permission to do that.');
    await expect(page.getByRole('table', { name: 'Audit log' })).toHaveCount(0);
    const csv = await page.request.get('/downloads/audit?format=csv');
    expect(csv.status()).toBe(403);
  });
});

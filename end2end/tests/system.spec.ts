import { expect, test } from '@playwright/test';
import { hydrated, stateOf } from './helpers';

// The System page against the e2e database and Redis.

test.describe('as an operator', () => {
  test.use({ storageState: stateOf('operator') });

  test('an operator reads PostgreSQL and Redis on the System page @no-js', async ({ page }) => {
    await page.goto('/');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'System' }).click();
    await expect(page.getByRole('heading', { name: 'System', level: 1 })).toBeVisible();
    const postgres = page.getByRole('region', { name: 'PostgreSQL' });
    await expect(postgres).toContainText('primary');
    await expect(postgres.getByRole('table', { name: 'Tables' })).toContainText('payments');
    await expect(postgres.getByRole('table', { name: 'Indexes' })).toContainText('payments_pkey');
    const redis = page.getByRole('region', { name: 'Redis' });
    await expect(redis).toContainText('master');
    await expect(redis.getByRole('table', { name: 'Key namespaces' })).toContainText('console');
    const rocksdb = page.getByRole('region', { name: 'RocksDB' });
    await expect(rocksdb.getByRole('table', { name: 'Column families' })).toContainText('events');
  });

  test('the page reads again every five seconds until paused', async ({ page }) => {
    await page.goto('/system');
    await hydrated(page);
    const readAt = page.getByRole('status').filter({ hasText: /^Read at / });
    const first = await readAt.textContent();
    await expect(readAt).not.toHaveText(first!, { timeout: 12_000 });
    await page.getByRole('button', { name: 'Pause refreshing' }).click();
    await expect(page.getByRole('button', { name: 'Resume refreshing' })).toHaveAttribute('aria-pressed', 'true');
    const paused = await readAt.textContent();
    await page.waitForTimeout(6_000);
    await expect(readAt).toHaveText(paused!);
  });
});

test.describe('as an auditor', () => {
  test.use({ storageState: stateOf('auditor') });

  test('an auditor has no System page', async ({ page }) => {
    await page.goto('/');
    await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'System' })).toHaveCount(0);
    const res = await page.request.post('/api/system/get_system_health', { form: {} });
    expect(res.status()).toBe(403);
  });
});

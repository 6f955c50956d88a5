import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { expect, test } from '@playwright/test';
import { stateOf } from './helpers';

// The ledger against the demo seed's (make e2e seeds it with the database).

/** RFC 9162 §2.1.3.2, written here from the RFC: the proof must lead from the leaf to the root. */
function inclusionHolds(leaf: string, index: number, size: number, path: string[], root: string): boolean {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = Buffer.from(leaf, 'hex');
  for (const p of path) {
    if (sn === 0) return false;
    const sibling = Buffer.from(p, 'hex');
    if (fn % 2 === 1 || fn === sn) {
      r = createHash('sha256').update(Buffer.concat([Buffer.from([1]), sibling, r])).digest();
      while (fn % 2 === 0 && fn !== 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = createHash('sha256').update(Buffer.concat([Buffer.from([1]), r, sibling])).digest();
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && r.toString('hex') === root;
}

test.describe('an auditor', () => {
  test.use({ storageState: stateOf('auditor') });

  test("opens a payment's ledger event, sees the proof verified and downloads it", async ({ page }) => {
    await page.goto('/payments?status=settled');
    await page.getByRole('table', { name: 'Payments' }).locator('tbody tr').first().getByRole('link').first().click();
    await expect(page.getByRole('region', { name: 'Ledger state' })).toContainText('The ledger agrees: settled');
    const timeline = page.getByRole('list', { name: 'Timeline' });
    await timeline.getByRole('link', { name: /Ledger event \d+: settled/ }).click();

    await expect(page.getByRole('heading', { name: /Event \d+ · settled/ })).toBeVisible();
    const proof = page.getByRole('region', { name: 'Proof' });
    await expect(proof.getByText('Proof verified')).toBeVisible();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      proof.getByRole('link', { name: 'Download proof (JSON)' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^ledger-event-\d+-proof\.json$/);
    const file = JSON.parse(readFileSync(await download.path(), 'utf8'));
    const p = file.proof;
    expect(file.event.event_type).toBe('settled');
    expect(p.seq).toBe(file.event.seq);
    expect(inclusionHolds(p.leaf_hash, p.leaf_index, p.tree_size, p.audit_path, p.root)).toBe(true);
    // A proof with one bit changed does not hold.
    const flipped = (p.leaf_hash[0] === '0' ? '1' : '0') + p.leaf_hash.slice(1);
    expect(inclusionHolds(flipped, p.leaf_index, p.tree_size, p.audit_path, p.root)).toBe(false);

    // The proof's block is one click away, and chains to its parent.
    await proof.getByRole('link', { name: `block ${p.block_number}` }).click();
    await expect(page.getByRole('heading', { name: `Block ${p.block_number}` })).toBeVisible();
    await expect(page.getByRole('region', { name: 'Block' })).toContainText(p.parent_hash);
  });

  test('verifies the whole chain', async ({ page }) => {
    await page.goto('/ledger/storage');
    await page.getByRole('button', { name: 'Verify the ledger' }).click();
    await expect(page.getByRole('region', { name: 'Verification' })).toContainText(
      /The ledger is intact: \d+ blocks and \d+ events checked\./,
    );
  });
});

test.describe('a viewer', () => {
  test.use({ storageState: stateOf('viewer') });

  test('browses events, filters them by type and pages through them @no-js', async ({ page }) => {
    await page.goto('/');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Ledger' }).click();
    const events = page.getByRole('table', { name: 'Ledger events' });
    await expect(events.locator('tbody tr')).toHaveCount(50);
    await page.getByLabel('Event type').selectOption('cancelled');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect(page).toHaveURL(/event_type=cancelled/);
    const rows = events.locator('tbody tr');
    expect(await rows.count()).toBeGreaterThan(0);
    for (const row of await rows.all()) await expect(row).toContainText('cancelled');
  });

  test('sees the blocks and a block chained to its parent @no-js', async ({ page }) => {
    await page.goto('/ledger/blocks');
    const blocks = page.getByRole('table', { name: 'Ledger blocks' });
    await blocks.locator('tbody tr').nth(1).getByRole('link').first().click();
    await expect(page.getByRole('heading', { name: /^Block \d+$/ })).toBeVisible();
    await expect(page.getByRole('table', { name: 'Events of the block' }).locator('tbody tr').first()).toBeVisible();
    await page.getByRole('link', { name: /its parent/ }).click();
    await expect(page.getByRole('heading', { name: /^Block \d+$/ })).toBeVisible();
  });

  test('sees the storage figures of every column family @no-js', async ({ page }) => {
    await page.goto('/ledger/storage');
    const families = page.getByRole('table', { name: 'Column families' });
    for (const name of ['events', 'blocks', 'state', 'indices', 'merkle', 'snapshots']) {
      await expect(families.getByRole('row').filter({ hasText: name }).first()).toBeVisible();
    }
    await expect(families.getByRole('img', { name: /^events: / })).toBeVisible();
    await expect(page.getByRole('table', { name: 'Snapshots' }).locator('tbody tr')).not.toHaveCount(0);
    await expect(page.getByRole('region', { name: 'Head' })).toContainText('Blocks');
  });
});

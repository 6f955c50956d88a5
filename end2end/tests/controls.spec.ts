import { expect, test, type Browser, type Page } from '@playwright/test';
import { hydrated, stateOf } from './helpers';

// Controls against the demo data: a viewer reads them and cannot act; an operator freezes
// and unfreezes from a bank's page and the Controls page; a block takes two people.

async function as(browser: Browser, role: string) {
  const context = await browser.newContext({ storageState: stateOf(role) });
  return { context, page: await context.newPage() };
}

/** A bank no control or request names yet (its BIC appears nowhere on the Controls page),
 * other than `except`; returns its page's path and its BIC. */
async function freeBank(page: Page, except: string[] = []): Promise<{ href: string; bic: string }> {
  await page.goto('/controls');
  const named = await page.getByRole('main').innerText();
  await page.goto('/banks');
  const rows = page.getByRole('table', { name: 'Banks' }).locator('tbody tr');
  for (let i = 0; i < (await rows.count()); i++) {
    const bic = (await rows.nth(i).locator('td').first().innerText()).trim();
    if (!named.includes(bic) && !except.includes(bic)) {
      const href = (await rows.nth(i).getByRole('link').first().getAttribute('href'))!;
      return { href, bic };
    }
  }
  throw new Error('every bank on the first page has a control');
}

test.describe('as a viewer', () => {
  test.use({ storageState: stateOf('viewer') });

  test('a viewer sees the controls and their Redis copies, and no buttons @no-js', async ({ page }) => {
    await page.goto('/controls');
    const inForce = page.getByRole('table', { name: 'Controls in force' });
    await expect(inForce).toContainText('Sanctions list match under investigation');
    await expect(inForce).toContainText('freeze');
    await expect(page.getByRole('table', { name: 'Requests waiting for approval' })).toContainText(
      'Repeated sanctions hits on outbound payments',
    );
    await expect(page.getByRole('table', { name: 'Rate limits' })).toBeVisible();
    await expect(page.getByRole('form', { name: 'Set or lift a control' })).toHaveCount(0);
    await expect(page.getByRole('button', { name: 'Reconcile Redis' })).toHaveCount(0);
    await expect(page.getByRole('button', { name: 'Approve' })).toHaveCount(0);
  });

  test('the server refuses a viewer who calls the control functions anyway', async ({ page }) => {
    const { href } = await freeBank(page);
    const id = href.split('/').pop()!;
    const act = await page.request.post('/api/controls/act_on_control', {
      form: {
        'order[entity_type]': 'bank',
        'order[entity_id]': id,
        'order[action]': 'freeze',
        'order[reason]': 'A viewer trying to freeze',
      },
    });
    expect(act.status()).toBe(403);
    const reconcile = await page.request.post('/api/controls/reconcile_controls', { form: {} });
    expect(reconcile.status()).toBe(403);
    await page.goto(href);
    await expect(page.getByRole('table', { name: 'Active controls' })).toContainText('No controls in force.');
  });
});

test('an operator freezes a bank from its page and lifts the freeze from the Controls page', async ({ browser }) => {
  const { context, page } = await as(browser, 'operator');
  const { href, bic } = await freeBank(page);
  await page.goto(href);
  await hydrated(page);
  const form = page.getByRole('form', { name: 'Set or lift a control' });
  await form.getByLabel('Action').selectOption('freeze');
  await form.getByLabel('Reason').fill('Unexpected burst of outbound payments');
  await form.getByRole('button', { name: 'Submit' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Confirm' });
  await expect(confirm).toContainText(`Freeze ${bic}`);
  await confirm.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'frozen; the Redis copy is written.' })).toBeVisible();
  await expect(page.getByRole('table', { name: 'Active controls' })).toContainText('Unexpected burst of outbound payments');

  await page.goto('/controls');
  await hydrated(page);
  const row = page.getByRole('table', { name: 'Controls in force' }).locator('tbody tr', { hasText: bic });
  await expect(row).toContainText('in sync');
  await row.getByRole('button', { name: 'Unfreeze…' }).click();
  const order = page.getByRole('form', { name: 'Set or lift a control' });
  await expect(order.getByLabel('Action')).toHaveValue('unfreeze');
  await order.getByLabel('Reason').fill('Burst explained by the bank');
  await order.getByRole('button', { name: 'Submit' }).click();
  await page.getByRole('alertdialog', { name: 'Confirm' }).getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'unfrozen; the Redis copy is written.' })).toBeVisible();
  await expect(page.getByRole('table', { name: 'Controls in force' }).locator('tbody tr', { hasText: bic })).toHaveCount(0);

  await page.goto('/controls/history?action=unfreeze');
  await expect(page.getByRole('table', { name: 'History of controls' })).toContainText('Burst explained by the bank');
  await context.close();
});

test('a block takes two people: the operator asks, cannot approve, the admin approves, the bank is blocked', async ({ browser }) => {
  const a = await as(browser, 'operator');
  const { href, bic } = await freeBank(a.page);
  await a.page.goto(href);
  await hydrated(a.page);
  const form = a.page.getByRole('form', { name: 'Set or lift a control' });
  await form.getByLabel('Action').selectOption('block');
  await form.getByLabel('Reason').fill('Confirmed sanctions match on the sender');
  await form.getByRole('button', { name: 'Submit' }).click();
  const confirm = a.page.getByRole('alertdialog', { name: 'Confirm' });
  await expect(confirm).toContainText("waits for another operator's approval");
  await confirm.getByRole('button', { name: 'Confirm' }).click();
  await expect(a.page.getByRole('status').filter({ hasText: 'once another operator approves it' })).toBeVisible();
  await expect(a.page.getByRole('table', { name: 'Active controls' })).toContainText('No controls in force.');

  // The requester sees their request with a disabled Approve that says why.
  await a.page.goto('/controls');
  const mine = a.page.getByRole('table', { name: 'Requests waiting for approval' }).locator('tbody tr', { hasText: bic });
  await expect(mine.getByRole('button', { name: 'Approve' })).toBeDisabled();
  await expect(mine).toContainText('Your own request: it needs a second approver.');
  await a.context.close();

  // Someone else approves it with a note.
  const b = await as(browser, 'admin');
  await b.page.goto('/controls');
  await hydrated(b.page);
  const theirs = b.page.getByRole('table', { name: 'Requests waiting for approval' }).locator('tbody tr', { hasText: bic });
  await theirs.getByRole('textbox').fill('Match confirmed by compliance');
  await theirs.getByRole('button', { name: 'Approve' }).click();
  await b.page.getByRole('alertdialog', { name: 'Confirm' }).getByRole('button', { name: 'Confirm' }).click();
  await expect(b.page.getByRole('status').filter({ hasText: 'Approved; the block is set' })).toBeVisible();
  await expect(b.page.getByRole('table', { name: 'Controls in force' }).locator('tbody tr', { hasText: bic })).toContainText('block');

  await b.page.goto(href);
  await expect(b.page.getByRole('table', { name: 'Active controls' })).toContainText('block');
  await expect(b.page.getByRole('table', { name: 'Active controls' })).toContainText('Confirmed sanctions match on the sender');
  await b.context.close();
});

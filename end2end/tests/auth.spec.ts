import { expect, test } from '@playwright/test';
import { DEMO_PASSWORD, DEMO_TOTP_SECRET, hydrated, signIn, totp } from './helpers';

test('a visitor is sent to sign in, and comes back to the page asked for', async ({ page }) => {
  const response = await page.goto('/?from=e2e');
  expect(response?.url()).toContain('/login?next=');
  await page.getByLabel('Username').fill('operator');
  await page.getByLabel('Password').fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL('/?from=e2e');
  await expect(page.getByRole('heading', { name: 'Dashboard', level: 1 })).toBeVisible();
});

for (const role of ['admin', 'operator', 'auditor', 'viewer']) {
  test(`${role} signs in and sees their name and role`, async ({ page }) => {
    await signIn(page, role);
    await expect(page.getByLabel('Signed in as')).toContainText(role);
  });
}

test('a wrong password is refused with one message', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill('viewer');
  await page.getByLabel('Password').fill('certainly not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Invalid username or password.');
  await expect(page).toHaveURL(/\/login/);
});

test('five failures lock the username', async ({ page }) => {
  const username = `e2e-lock-${Date.now()}`;
  await page.goto('/login');
  await hydrated(page);
  for (let i = 0; i < 5; i++) {
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert')).toBeVisible();
  }
  await expect(page.getByRole('alert')).toContainText('Too many attempts');
});

test('signing out ends the session', async ({ page }) => {
  await signIn(page, 'auditor');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/login/);
});

test('the admin needs a one-time code after the password', async ({ page }) => {
  test.skip(!DEMO_TOTP_SECRET, 'DEMO_TOTP_SECRET is not set');
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByLabel('One-time code')).toBeVisible();
  await page.getByLabel('One-time code').fill('000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Invalid username or password.');
  await signIn(page, 'admin');
});

test('a viewer sees only the pages their role may use', async ({ page }) => {
  await signIn(page, 'viewer');
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Dashboard' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Profile' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Users' })).toHaveCount(0);
  await expect(nav.getByRole('link', { name: 'Sessions' })).toHaveCount(0);
});

test('an admin without two-factor sign-in must set it up before anything else', async ({ page }) => {
  // `make e2e` creates `newadmin`, an admin with no authenticator yet.
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill('newadmin');
  await page.getByLabel('Password').fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL('/profile');
  await expect(page.getByRole('alert')).toContainText('Admins must use two-factor sign-in');
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Profile' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Users' })).toHaveCount(0);
  await page.goto('/users');
  await expect(page).toHaveURL('/profile');

  await hydrated(page);
  await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
  const key = (await page.locator('code').first().textContent())!.trim();
  await page.getByLabel('One-time code').fill(totp(key, Math.floor(Date.now() / 30_000)));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await expect(page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem')).toHaveCount(10);
  await page.getByRole('link', { name: 'Continue to the console' }).click();
  await expect(page.getByRole('heading', { name: 'Dashboard', level: 1 })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Users' })).toBeVisible();
  await expect(page.getByRole('alert')).toHaveCount(0);
});

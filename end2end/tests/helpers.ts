import { createHmac } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, type Page } from '@playwright/test';

/** The demo roles; global-setup.ts stores a signed-in session for each. */
export const ROLES = ['admin', 'operator', 'auditor', 'viewer'];
const AUTH_DIR = join(__dirname, '..', '.auth');
/** The stored state (session cookie) of `role`, for `test.use({ storageState: stateOf(role) })`. */
export function stateOf(role: string): string {
  return join(AUTH_DIR, `${role}.json`);
}
/** The last TOTP step global-setup used for the admin. */
export const STEP_FILE = join(AUTH_DIR, 'totp-step');

/** The demo users' password (`make test` seeds them with DEMO_PASSWORD). */
export const DEMO_PASSWORD = process.env.DEMO_PASSWORD ?? 'demo-password-2026';
/** The demo admin's TOTP secret (base32), enrolled by `seed --demo` from DEMO_TOTP_SECRET. */
export const DEMO_TOTP_SECRET = process.env.DEMO_TOTP_SECRET ?? '';

function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of text.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP (SHA-1, 30 s, 6 digits) for a time step. */
export function totp(secretBase32: string, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secretBase32)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return code.toString().padStart(6, '0');
}

/** The last step used, kept in STEP_FILE so that a restarted worker does not reuse it. */
function lastStep(): number {
  return existsSync(STEP_FILE) ? Number(readFileSync(STEP_FILE, 'utf8')) : -1;
}

/** A code for a time step not used before in this run (the server accepts each step once, and
 * the steps either side of the current one): the current step or the next, else wait. */
export async function freshCode(): Promise<string> {
  for (;;) {
    const current = Math.floor(Date.now() / 30_000);
    const step = Math.max(current, lastStep() + 1);
    if (step <= current + 1) {
      writeFileSync(STEP_FILE, String(step));
      return totp(DEMO_TOTP_SECRET, step);
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** Signs in through the login page (with a one-time code for the admin) and waits for `landing`. */
export async function signIn(page: Page, username: string, landing = '/') {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(DEMO_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (username === 'admin' && DEMO_TOTP_SECRET) {
    await page.getByLabel('One-time code').fill(await freshCode());
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await expect(page).toHaveURL(landing);
  await expect(page.getByLabel('Signed in as')).toContainText(username);
}

/** Waits until the page's wasm has hydrated it (forms and buttons then work in place). */
export async function hydrated(page: Page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true', { timeout: 20_000 });
}

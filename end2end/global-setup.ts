// cargo-leptos starts `npx playwright test` right after launching the server, without waiting for
// it to listen: wait here until /healthz answers 200. Then sign each demo role in once and keep
// its session as Playwright "stored state" (end2end/.auth/<role>.json), so that tests open pages
// as a role without going through the login form each time (auth.spec.ts tests the form).
import { mkdirSync, writeFileSync } from 'node:fs';
import { DEMO_PASSWORD, DEMO_TOTP_SECRET, ROLES, STEP_FILE, stateOf, totp } from './tests/helpers';

const BASE_URL = process.env.E2E_BASE_URL ?? 'http://127.0.0.1:3000';
const HEALTH_URL = `${BASE_URL}/healthz`;
const TIMEOUT_MS = 120_000;
const INTERVAL_MS = 500;

async function waitForServer(): Promise<void> {
  const started = Date.now();
  let last = 'no answer yet';
  while (Date.now() - started < TIMEOUT_MS) {
    try {
      const res = await fetch(HEALTH_URL, { signal: AbortSignal.timeout(5_000) });
      if (res.status === 200) {
        console.log(`[global-setup] ${HEALTH_URL} answered 200 after ${Date.now() - started} ms`);
        return;
      }
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    }
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
  throw new Error(`[global-setup] ${HEALTH_URL} did not answer 200 within ${TIMEOUT_MS / 1000} s (last: ${last})`);
}

/** Signs `role` in through the login server function and writes its stored state. */
async function storeSession(role: string, step: number): Promise<void> {
  const form = new URLSearchParams({ username: role, password: DEMO_PASSWORD });
  if (role === 'admin' && DEMO_TOTP_SECRET) form.set('otp', totp(DEMO_TOTP_SECRET, step));
  const res = await fetch(`${BASE_URL}/api/auth/login`, {
    method: 'POST',
    body: form,
    headers: { Origin: BASE_URL, Accept: 'application/json' },
    redirect: 'manual',
  });
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .find((c) => c.startsWith('deltran_session='));
  if (!cookie || res.status >= 400) {
    throw new Error(`[global-setup] ${role} could not sign in: HTTP ${res.status} ${await res.text()}`);
  }
  const state = {
    cookies: [{
      name: 'deltran_session',
      value: cookie.slice('deltran_session='.length),
      domain: new URL(BASE_URL).hostname,
      path: '/',
      expires: -1,
      httpOnly: true,
      secure: false,
      sameSite: 'Lax',
    }],
    origins: [],
  };
  writeFileSync(stateOf(role), JSON.stringify(state, null, 2));
}

export default async function globalSetup(): Promise<void> {
  await waitForServer();
  mkdirSync(stateOf('x').replace(/[^/]+$/, ''), { recursive: true });
  const step = Math.floor(Date.now() / 30_000);
  for (const role of ROLES) await storeSession(role, step);
  // The admin's code for this step is spent: later sign-ins must use a later step.
  writeFileSync(STEP_FILE, String(step));
  console.log(`[global-setup] stored sessions for ${ROLES.join(', ')}`);
}

// cargo-leptos starts `npx playwright test` right after launching the server, without waiting for
// it to listen: wait here until /healthz answers 200.
const BASE_URL = 'http://127.0.0.1:3000';
const HEALTH_URL = `${BASE_URL}/healthz`;
const TIMEOUT_MS = 120_000;
const INTERVAL_MS = 500;

export default async function globalSetup(): Promise<void> {
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

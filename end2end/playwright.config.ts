import { defineConfig, devices } from '@playwright/test';

// Run by `cargo leptos end-to-end` (see `make e2e`), which builds the site, starts the server on
// LEPTOS_SITE_ADDR (127.0.0.1:3000) and then runs `npx playwright test` in this folder without
// waiting for the server to listen: global-setup.ts waits for /healthz. E2E_BASE_URL points the
// suite at a server elsewhere (e.g. http://127.0.0.1:3100 while another listens on 3000).
//
// The browser is Debian's Chromium (`scripts/tools.sh --browser` installs it); browser downloads
// are blocked on these machines, so never run `npx playwright install`.
const isCI = !!process.env.CI;
const BASE_URL = process.env.E2E_BASE_URL ?? 'http://127.0.0.1:3000';

export default defineConfig({
  testDir: './tests',
  // `make e2e E2E_GREP=<regex>` runs only the tests whose title matches.
  grep: process.env.E2E_GREP ? new RegExp(process.env.E2E_GREP) : undefined,
  globalSetup: './global-setup.ts',
  fullyParallel: false,
  forbidOnly: isCI,
  // 2-core machine: the server, Postgres, Redis and the browser share it.
  workers: 1,
  // No retries: a test that passes only on a second attempt is a bug to fix, not to hide.
  retries: 0,
  reporter: 'list',
  use: {
    baseURL: BASE_URL,
    headless: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  projects: [
    {
      name: 'chromium',
      use: { ...devices['Desktop Chrome'] },
    },
    // The read-only specs (tagged @no-js) once more without JavaScript: the server-rendered
    // pages, their GET filter forms and links must work without the wasm.
    {
      name: 'no-javascript',
      grep: /@no-js/,
      use: { ...devices['Desktop Chrome'], javaScriptEnabled: false },
    },
  ],
});

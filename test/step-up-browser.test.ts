// Issue 11, item 10, in the browser: a vendor signed in with a password opens a machine that
// needs a recent second factor; the client follows 401 step_up_required to the IdP, the dev IdP
// asks for the one-time code, and the browser comes back to the session, which opens (real
// client, portal, guacd and SSH target).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { generate as totp } from 'otplib';
import { TEST_IDP_PASSWORD, type TestPortal } from './support/portal.ts';
import { startPlantPortal, type PlantPortal } from './support/plant-portal.ts';
import { launchBrowser, signIn, type TestBrowser } from './support/browser.ts';
import { loginAs } from './support/http.ts';
import { grantNow } from './support/workflow.ts';

let plant: PlantPortal;
let portal: TestPortal;
let browser: TestBrowser;

beforeAll(async () => {
  plant = await startPlantPortal('step-up', { freshDb: 4 });
  portal = plant.portal;
  const machine = await portal.services.inventory.machine('cnc-07');
  if (machine === undefined) throw new Error('no cnc-07 in the demo plant');
  await portal.services.inventory.putMachine({ ...machine, stepUpMinutes: 15 });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await plant?.close();
});

test('opening a step-up machine after a password-only sign-in asks for the one-time code and comes back to the session', async () => {
  const vera = await loginAs(portal.publicUrl, 'vera');
  const grant = await grantNow(portal, vera, await loginAs(portal.publicUrl, 'mona'), 'cnc-07');
  const page = await signIn(await browser.newContext(), portal.publicUrl, 'vera');
  await page.getByTestId('nav-my').click();
  await page.getByTestId(`open-${grant}`).click();
  // The session screen's ticket call answered step_up_required: the IdP asks for the second factor.
  await page.locator('#mfa-requested').waitFor({ timeout: 15_000 });
  await page.getByLabel('Username').fill('vera');
  await page.getByLabel('Password').fill(TEST_IDP_PASSWORD);
  const secret = portal.devIdp?.admin.totpSecret('vera') ?? '';
  await page.getByLabel('One-time code').fill(await totp({ secret }));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-testid="session-status"][data-status="connected"]').waitFor({ timeout: 30_000 });
  expect(new URL(page.url()).hash).toBe(`#/session/${grant}`);
  await page.context().close();
});

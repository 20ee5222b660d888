// /healthz and /readyz against a private Redis this suite can stop and start again.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { privateServices, type PrivateServices } from './support/private-services.ts';
import { Browserless, loginAs } from './support/http.ts';
import { waitFor } from './support/wait.ts';

let services: PrivateServices;
let portal: TestPortal;

beforeAll(async () => {
  services = await privateServices('readyz', ['redis']);
  portal = await startTestPortal({ AIRLOCK_REDIS_URL: services.services.redis?.url ?? '' });
});

afterAll(async () => {
  await portal?.close();
  await services?.close();
});

test('ready with Redis and guacd up; 503 naming Redis while it is down; ready again after', async () => {
  const http = new Browserless(portal.publicUrl);
  const vendor = await loginAs(portal.publicUrl, 'vera');
  const ready = await http.get('/readyz');
  expect(ready.status).toBe(200);
  expect(ready.json()).toMatchObject({ status: 'ready', checks: { redis: 'ok', guacd: 'ok' } });

  await services.stopService('redis');
  const down = await http.get('/readyz');
  expect(down.status).toBe(503);
  expect(down.json()).toMatchObject({
    error: { code: 'not_ready', message: expect.stringContaining('redis') },
    checks: { redis: 'unreachable', guacd: 'ok' },
  });
  expect((await http.get('/healthz')).status).toBe(200);
  // Fail closed: a signed-in user gets a clear 503, not a hang and not an anonymous pass.
  const me = await vendor.get('/api/me');
  expect(me.status).toBe(503);
  expect(me.json<{ error: { code: string } }>().error.code).toBe('store_unavailable');

  await services.startService('redis');
  await waitFor(async () => (await http.get('/readyz')).status === 200, { timeoutMs: 15_000, what: '/readyz to recover' });
  // AOF kept the session across the restart.
  expect((await vendor.get('/api/me')).status).toBe(200);
});

test('/readyz names guacd when guacd is unreachable', async () => {
  const other = await startTestPortal({ AIRLOCK_REDIS_URL: services.services.redis?.url ?? '', AIRLOCK_GUACD: '127.0.0.1:1' });
  try {
    const res = await new Browserless(other.publicUrl).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.json()).toMatchObject({ checks: { redis: 'ok', guacd: 'unreachable' }, error: { message: expect.stringContaining('guacd') } });
  } finally {
    await other.close();
  }
});

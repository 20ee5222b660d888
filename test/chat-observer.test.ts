// Issue 14, required observer in chat, on real parts (guacd, sshd) and the Slack fake: a session
// on a machine that requires an observer waits, and the site's approvers get "Needs an observer"
// with Watch; when a plant observer joins, that same message says the session is observed; when
// the session ends, it says so and Watch goes.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { FakeSlack, type SlackMessage } from '../dev/fakes/slack.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { grantNow, seedDemoPlant } from './support/workflow.ts';
import { openSession, watchSession } from './support/tunnel.ts';
import { slackTrusting, startChatPortal, startFakeSlack, type ChatPortal } from './support/chat.ts';

const DB = 9;
const SLACK_CHANNEL = 'COBSERVEA';
const SLACK_CHANNEL_B = 'COBSERVEB';

let slack: FakeSlack;
let chat: ChatPortal;
let vera: Browserless;
let mona: Browserless;

const observerMessages = (sessionId: string, channel = SLACK_CHANNEL): SlackMessage[] =>
  slack.messagesIn(channel).filter((m) => JSON.stringify(m.blocks).includes(`/#/watch/${sessionId}`) && JSON.stringify(m.blocks).includes('👁'));

beforeAll(async () => {
  slack = await startFakeSlack();
  chat = await startChatPortal(
    {
      slack: slackTrusting(slack),
      sites: { 'site-a': { slack: { channel: SLACK_CHANNEL } }, 'site-b': { slack: { channel: SLACK_CHANNEL_B } } },
    },
    DB,
  );
  await seedDemoPlant(chat.portal, { targets: true });
  vera = await loginAs(chat.portal.publicUrl, 'vera');
  mona = await loginAs(chat.portal.publicUrl, 'mona');
});

afterAll(async () => {
  await chat?.close();
  await slack?.close();
});

describe('required observer', () => {
  test('"Needs an observer" with Watch reaches the site’s approvers while the session waits, and the same message says so when an observer joins, then when it ends', async () => {
    const grant = await grantNow(chat.portal, vera, mona, 'furnace-ctl');
    const session = await openSession(vera, grant);
    await session.tunnel.firstFrame(30_000);
    const needs = () => observerMessages(session.id).find((m) => JSON.stringify(m.blocks).includes('Needs an observer'));
    await slack.server.until(() => needs() !== undefined, 'the "Needs an observer" message');
    const message = needs() as SlackMessage;
    expect(JSON.stringify(message.blocks)).toContain('Waiting for a plant observer');
    expect(JSON.stringify(message.blocks)).toContain('Furnace controller (observed)');
    // Only the machine's site hears of it.
    expect(slack.messagesIn(SLACK_CHANNEL_B).some((m) => JSON.stringify(m.blocks).includes(session.id))).toBe(false);

    const observer = await watchSession(mona, session.id);
    await slack.server.until(() => JSON.stringify(message.blocks).includes('Observed: the vendor’s input reaches the machine'), 'the message updated: observed');
    expect(JSON.stringify(message.blocks)).toContain(`/#/watch/${session.id}`);
    // Updated in place: still one observer message for the session.
    expect(observerMessages(session.id)).toHaveLength(1);
    expect(message.updates).toBeGreaterThanOrEqual(1);

    await observer.close();
    await session.tunnel.close();
    await slack.server.until(() => JSON.stringify(message.blocks).includes('The session is over'), 'the message updated: ended');
    expect(JSON.stringify(message.blocks)).not.toContain(`/#/watch/${session.id}`);
  });
});

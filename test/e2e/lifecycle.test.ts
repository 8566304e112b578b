/**
 * The end of a Zap's subscription, end to end: turning the Zap off, and revoking the key it was connected
 * with. Each proves that nothing more arrives by running a second, still-connected Zap on the same events
 * as a control: once the control has received the later event and the worker is idle, the ended Zap had
 * every chance to receive it too.
 */
import { runAdmin } from '../../partner-api/cli/admin';
import { waitUntil } from '../support/api-server';
import { at } from '../support/items';
import { reply, startReceiver } from '../support/receiver';
import { databaseEnv } from '../support/test-store';
import {
  deliveriesTo,
  hookUrl,
  type LiveHook,
  verifyWebhook,
  waitForDeliveries,
  zapierError,
} from '../support/zapier-live';
import {
  agentTicket,
  type LiveWorkspace,
  newWorkspace,
  startWidgetConversation,
  submitLeadForm,
} from '../support/zapier-product';
import { useLiveStack } from './live';

const live = useLiveStack();
let zaps = 0;
const url = (name: string) => hookUrl(live.rx, `${name}-${++zaps}`);

async function newLead(w: LiveWorkspace, email: string): Promise<string> {
  const conversation = await startWidgetConversation(w);
  return (await submitLeadForm(w, conversation.id, { email })).contact.id;
}

const leadIds = (hook: LiveHook) => deliveriesTo(live.rx, hook).map((d) => (d.json() as { id: string }).id);

/** Revokes the key the operator's way, from the admin command line, on the running API's database. */
async function revokeWithAdminCli(keyId: string): Promise<string> {
  const said: string[] = [];
  const code = await runAdmin(['key', 'revoke', keyId], {
    env: { ...databaseEnv(live.stack.server.dbPath), ILLUMICHAT_LOG: 'silent' },
    stdout: (line) => said.push(line),
    stderr: (line) => said.push(line),
  });
  expect(code).toBe(0);
  return said.join('\n');
}

describe('turning a Zap off', () => {
  it('removes its subscription: later events are not delivered to it, while other Zaps still get them', async () => {
    const w = await newWorkspace(live.stack);
    const zap = await w.zap.turnOn('lead_captured', {}, url('off'));
    const control = await w.zap.turnOn('lead_captured', {}, url('control'));
    const first = await newLead(w, 'first@example.com');
    await waitForDeliveries(live.rx, zap, 1);
    await waitForDeliveries(live.rx, control, 1);

    await expect(w.zap.turnOff(zap)).resolves.toEqual({ id: zap.subscribeData.id, active: false });

    const second = await newLead(w, 'second@example.com');
    await waitForDeliveries(live.rx, control, 2);
    await live.stack.server.worker!.idle();
    expect(leadIds(control)).toEqual([first, second]);
    expect(leadIds(zap)).toEqual([first]);
  });

  it('without the subscription id (empty subscribeData), removes the subscription at its hook URL', async () => {
    const w = await newWorkspace(live.stack);
    const zap = await w.zap.turnOn('lead_captured', {}, url('lost-id'));
    const control = await w.zap.turnOn('lead_captured', {}, url('lost-id-control'));

    await expect(w.zap.turnOff({ ...zap, subscribeData: {} as LiveHook['subscribeData'] })).resolves.toEqual({
      id: zap.subscribeData.id,
      active: false,
    });

    const lead = await newLead(w, 'after-off@example.com');
    await waitForDeliveries(live.rx, control, 1);
    await live.stack.server.worker!.idle();
    expect(leadIds(control)).toEqual([lead]);
    expect(leadIds(zap)).toEqual([]);
  });

  it('turning it off a second time still succeeds (Zapier may retry an unsubscribe)', async () => {
    const w = await newWorkspace(live.stack);
    const zap = await w.zap.turnOn('conversation_event', { event_type: 'ticket.created' }, url('twice'));
    await w.zap.turnOff(zap);
    await expect(w.zap.turnOff(zap)).resolves.toEqual({ id: zap.subscribeData.id, active: false });
  });

  it('turning it on again makes a new subscription with a new secret, and deliveries resume', async () => {
    const w = await newWorkspace(live.stack);
    const targetUrl = url('again');
    const before = await w.zap.turnOn('lead_captured', {}, targetUrl);
    await w.zap.turnOff(before);

    const after = await w.zap.turnOn('lead_captured', {}, targetUrl);
    expect(after.subscribeData.id).not.toBe(before.subscribeData.id);
    expect(after.subscribeData.secret).not.toBe(before.subscribeData.secret);

    const lead = await newLead(w, 'again@example.com');
    const delivery = at(await waitForDeliveries(live.rx, after, 1), 0);
    expect(verifyWebhook(after.subscribeData.secret, delivery)).toBe(true);
    expect(verifyWebhook(before.subscribeData.secret, delivery)).toBe(false);
    expect(await w.zap.receive(after, delivery)).toEqual([expect.objectContaining({ id: lead })]);
  });
});

describe('revoking the key a Zap is connected with', () => {
  it('makes the connection test ask to reconnect, and stops every delivery to the Zaps made with it', async () => {
    const w = await newWorkspace(live.stack);
    const leads = await w.zap.turnOn('lead_captured', {}, url('revoked-leads'));
    const tickets = await w.zap.turnOn('conversation_event', { event_type: 'ticket.created' }, url('revoked-tickets'));
    // The control is the same workspace's other connection, made with a second key.
    const otherKey = await live.stack.server.createKey(w.workspace.id, ['events:read']);
    const control = await live.stack.connect(otherKey).turnOn('lead_captured', {}, url('other-key'));

    const first = await newLead(w, 'before-revoke@example.com');
    await agentTicket(w.sam, 'Before the revoke');
    await waitForDeliveries(live.rx, leads, 1);
    await waitForDeliveries(live.rx, tickets, 1);
    await waitForDeliveries(live.rx, control, 1);

    expect(await revokeWithAdminCli(w.keyId)).toContain('2 subscription(s) made with it were ended');

    const test = await zapierError(w.zap.test());
    expect(test.name).toBe('ExpiredAuthError');
    expect(test.message).toContain(
      'This API key was revoked in IllumiChat (Settings → API Keys). Reconnect your IllumiChat account',
    );
    // Every other step with the dead key asks the same.
    const action = await zapierError(w.zap.create('create_ticket', { subject: 'After the revoke' }));
    expect(action.name).toBe('ExpiredAuthError');

    const second = await newLead(w, 'after-revoke@example.com');
    await agentTicket(w.sam, 'After the revoke');
    await waitForDeliveries(live.rx, control, 2);
    await live.stack.server.worker!.idle();
    expect(leadIds(control)).toEqual([first, second]);
    expect(leadIds(leads)).toEqual([first]);
    expect(deliveriesTo(live.rx, tickets)).toHaveLength(1);

    // The user can still turn the Zaps off, and reconnecting with a new key works.
    await expect(w.zap.turnOff(leads)).resolves.toMatchObject({ active: false });
    const newKey = await live.stack.server.createKey(w.workspace.id);
    await expect(live.stack.connect(newKey).test()).resolves.toMatchObject({ id: w.workspace.id });
  });

  it('cancels a delivery that was waiting for its retry, so it is never sent', async () => {
    const w = await newWorkspace(live.stack);
    const failing = await startReceiver({ default: reply(503) });
    try {
      const zap = await w.zap.turnOn('lead_captured', {}, hookUrl(failing, 'retrying'));
      await newLead(w, 'retry@example.com');
      await failing.waitFor(1);
      const delivery = async () =>
        (await live.stack.server.ctx.db.one<{ status: string; attempts: number }>(
          'SELECT status, attempts FROM deliveries WHERE subscription_id = ?',
          zap.subscribeData.id,
        ))!;
      // The first attempt failed and is recorded; the retry is scheduled seconds away.
      await waitUntil(async () => (await delivery()).attempts === 1, 5000, 'the failed attempt to be recorded');
      expect((await delivery()).status).toBe('pending');

      await revokeWithAdminCli(w.keyId);

      // Cancelled in the revoke's own transaction; the worker sends only pending rows.
      expect(await delivery()).toEqual({ status: 'cancelled', attempts: 1 });
    } finally {
      await failing.close();
    }
  });
});

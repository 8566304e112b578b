/**
 * Connecting an IllumiChat account, end to end: the connection wizard's test against the real API, the
 * account label, and each way a pasted key can be wrong, with the words the builder then reads.
 */
import { SCOPES } from '../../partner-api/domain/credentials';
import { zapierError } from '../support/zapier-live';
import { useLiveStack } from './live';

// Debug logging makes the API log one line per request, so a test can tell that none was made.
const live = useLiveStack({ config: { log: 'debug' } });
const requestsSeen = () => live.stack.server.logs.filter((l) => l.message === 'request').length;

describe('the connection test', () => {
  it('returns the workspace and labels the account with its name, telling two workspaces apart', async () => {
    const { server } = live.stack;
    const acme = await server.setup();
    const globex = await server.createWorkspace({ name: 'Globex Helpdesk', plan: 'business' });
    const globexKey = await server.createKey(globex.id, ['events:read']);
    const before = requestsSeen();

    const result = await live.stack.connect(acme.key).test();

    expect(result).toEqual({
      id: acme.workspace.id,
      name: 'Acme Support',
      plan: 'pro',
      key: { id: acme.keyId, prefix: acme.key.slice(0, 13), scopes: [...SCOPES] },
    });
    expect(live.stack.connect(acme.key).label(result)).toBe('Acme Support');
    expect(requestsSeen()).toBe(before + 1); // the counter the refusals below rely on does count
    const other = live.stack.connect(globexKey);
    expect(other.label(await other.test())).toBe('Globex Helpdesk');
  });

  it.each([
    ['another product’s key', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc'],
    ['a test-mode style key', 'wsk_test_a1B2c3D4a1B2c3D4a1B2c3D4a1B2c3D4Zx9Qw1'],
    ['an empty field', ''],
  ])('refuses %s before any request, saying keys start with wsk_live_', async (_, apiKey) => {
    const before = requestsSeen();
    const error = await zapierError(live.stack.connect(apiKey).test());
    expect(error.name).toBe('ExpiredAuthError');
    expect(error.message).toContain('start with wsk_live_');
    expect(requestsSeen()).toBe(before);
  });

  it('refuses a mistyped key (its checksum fails) and asks to copy the whole key', async () => {
    const { key } = await live.stack.server.setup();
    const typo = key.slice(0, 20) + (key[20] === 'x' ? 'y' : 'x') + key.slice(21);
    const error = await zapierError(live.stack.connect(typo).test());
    expect(error).toMatchObject({ name: 'ExpiredAuthError', message: expect.stringContaining('Copy the whole key') });
  });

  it('gives a workspace below Pro the Pro-plan message, and connects once it upgrades', async () => {
    const { server } = live.stack;
    const { workspace, key } = await server.setup({ plan: 'starter' });
    const zap = live.stack.connect(key);

    const error = await zapierError(zap.test());
    expect(error.message).toContain(
      'The Zapier integration is gated to Pro and above. Upgrade your workspace plan, then reconnect the account in Zapier.',
    );
    expect(error.code).toBe('plan_upgrade_required');

    await server.setPlan(workspace.id, 'pro');
    await expect(zap.test()).resolves.toMatchObject({ id: workspace.id, plan: 'pro' });
  });

  it('fails for a key without events:read, naming the scope', async () => {
    const { server } = live.stack;
    const { workspace } = await server.setup();
    const key = await server.createKey(workspace.id, ['contacts:write', 'tickets:write', 'chat:write']);

    const error = await zapierError(live.stack.connect(key).test());

    expect(error.code).toBe('insufficient_scope');
    expect(error.message).toContain('lacks the events:read scope');
    expect(error.message).toContain('reconnect');
    // Whole: it says why (the connection test needs the scope), and no word is cut off.
    expect(error.message).toContain('It is needed for the connection test');
    expect(error.message).not.toContain('…');
  });
});

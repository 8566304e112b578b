/**
 * `npm run demo` must keep working: its main function runs the whole story, prints each step with what the
 * Zaps received, and leaves nothing behind (no temporary database, no API URL left in the environment).
 */
import fs from 'node:fs';

import { runDemo } from '../../scripts/demo';
import { useRealNetwork } from './live';

beforeAll(useRealNetwork);

it('plays the whole story offline, prints what each Zap received, and cleans up', async () => {
  const urlBefore = process.env.ILLUMICHAT_API_URL;
  const lines: string[] = [];

  const result = await runDemo((line) => lines.push(line));
  const out = lines.join('\n');

  expect(result.deliveries).toBe(8);
  const steps = lines.filter((l) => l.startsWith('\n▸ ')).map((l) => l.slice(3));
  expect(steps).toEqual([
    'Connect IllumiChat in Zapier: the connection test',
    'Turn on Zaps: Lead Captured, a Conversation Event Zap per event type used below, and Tag Added',
    'A visitor opens the website widget and asks a question',
    'The visitor fills in the widget lead form',
    'The visitor asks for a human, and agent Sam accepts the live chat (takeover)',
    'Zap action Create Ticket, linked to the lead by Contact Email',
    'Zap action Update Ticket: status resolved',
    'Zap action Send Message to Conversation, into the taken-over chat',
    'Zap actions Find Contact, then Add Tag to Contact: vip',
    'Agent Sam ends the live chat and closes the conversation',
  ]);
  expect(out).toContain('account label "Acme Support"');
  for (const type of [
    'widget.conversation_started',
    'lead.captured',
    'live_chat.session_queued',
    'live_chat.agent_assigned',
    'ticket.created',
    'ticket.status_changed',
    'tag.added',
    'conversation.closed',
  ]) {
    expect(out).toMatch(new RegExp(`received ${type.replace('.', '\\.')} \\(.+\\), signature verified:`));
  }
  // What the Zaps received is printed, not just announced (compared with line wrapping undone).
  const flat = out.replace(/\s+/g, ' ');
  expect(flat).toContain('email=jane@example.com phone="+1 555 0100" source=widget_form isNew=true');
  expect(flat).toContain('data.agent.name="Sam Rivera"');
  expect(flat).toMatch(/data\.ticket\.status=resolved .*data\.ticket\.resolvedAt=\d{4}-/);
  expect(flat).toMatch(/Create Ticket returned: id=tkt_\w+ number=1 .*status=new priority=high source=api/);
  expect(flat).toMatch(/Send Message returned: id=msg_\w+ .*senderType=integration/);
  // The tag flow: a Zap tags the lead "vip"; the Tag Added Zap filtered to "VIP" on contacts runs on it.
  expect(flat).toMatch(/Add Tag to Contact returned: recordId=con_\w+ tag=vip tags=vip/);
  expect(flat).toMatch(
    /received tag\.added .*data\.tag=vip data\.recordType=contact .*data\.contactEmail=jane@example\.com/,
  );
  expect(flat).toMatch(
    /received conversation\.closed .*data\.closedBy\.type=agent .*data\.closedBy\.name="Sam Rivera"/,
  );

  expect(fs.existsSync(result.dbPath)).toBe(false);
  expect(process.env.ILLUMICHAT_API_URL).toBe(urlBefore);
});

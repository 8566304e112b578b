/**
 * `npm run demo` (or `./dev demo`): the whole integration at work, offline, in a few seconds.
 *
 * It starts the partner API and its delivery worker on a fresh temporary database, connects the Zapier app
 * the way Zapier does (the connection test, through zapier-platform-core's app tester), turns on Zaps for
 * both triggers with a local receiver standing in for hooks.zapier.com, and then plays a support story:
 * a visitor chats and leaves their details, asks for a human, an agent takes over, a Zap creates a ticket,
 * another resolves it, a third posts into the taken-over chat, a fourth tags the lead VIP (which a Tag Added
 * Zap picks up), and the agent closes the conversation. After each step it prints what the Zaps
 * received: each delivery's signature checked with its subscription's secret and run through the trigger's
 * perform, exactly as a Zap would see it.
 *
 * It drives the same harness as the end-to-end tests (test/support/zapier-*.ts), so it shows nothing they do
 * not prove; test/e2e/demo.test.ts runs it so it cannot rot.
 */
import { eventLabel } from '../catalog/events';
import { type Receiver, startReceiver } from '../test/support/receiver';
import {
  hookUrl,
  type JsonRecord,
  type LiveHook,
  startLiveStack,
  waitForDeliveries,
} from '../test/support/zapier-live';
import {
  accept,
  closeConversation,
  endChat,
  handOff,
  newWorkspace,
  startWidgetConversation,
  submitLeadForm,
} from '../test/support/zapier-product';

export type Print = (line: string) => void;

export interface DemoResult {
  /** Deliveries received and run, each with a verified signature. */
  deliveries: number;
  /** The temporary database, removed by the time the demo returns. */
  dbPath: string;
}

const WIDTH = 100;

/** A record as the Zap editor lists its fields (`data.ticket.id`), wrapped into a few lines; empty fields left out. */
export function compact(record: JsonRecord, indent = '      '): string[] {
  const pairs: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) walk(inner, path ? `${path}.${key}` : key);
    } else if (value !== null && value !== undefined) {
      const text = typeof value === 'string' ? value : Array.isArray(value) ? value.join(',') : JSON.stringify(value);
      pairs.push(`${path}=${typeof value === 'string' && /\s/.test(value) ? JSON.stringify(value) : text}`);
    }
  };
  walk(record, '');
  const lines: string[] = [];
  let line = '';
  for (const pair of pairs) {
    if (line && indent.length + line.length + 1 + pair.length > WIDTH) {
      lines.push(indent + line);
      line = pair;
    } else line = line ? `${line} ${pair}` : pair;
  }
  if (line) lines.push(indent + line);
  return lines;
}

export async function runDemo(print: Print = console.log): Promise<DemoResult> {
  const stack = await startLiveStack();
  let rx: Receiver | undefined;
  /** Each Zap's name and how many of its deliveries were shown. */
  const zaps = new Map<LiveHook, { name: string; shown: number }>();
  let deliveries = 0;
  try {
    rx = await startReceiver();
    const inbox = rx;
    const { server } = stack;
    print(`IllumiChat partner API on ${server.url}, fresh database ${server.dbPath}, delivery worker running.`);
    print(`Zapier's hook inbox (a local receiver) on http://127.0.0.1:${inbox.port}/hooks/…`);

    const w = await newWorkspace(stack);
    print(
      `\nWorkspace "${w.workspace.name}" (${w.workspace.plan}) with assistant "${w.assistant.name}" and agent ${w.sam.name}.`,
    );
    print(`An admin creates an API key in Settings → API Keys: ${w.key.slice(0, 13)}… (all four scopes).`);

    step('Connect IllumiChat in Zapier: the connection test');
    const me = await w.zap.test();
    print(
      `    connected; account label "${w.zap.label(me)}" (${me.id}, plan ${me.plan}, scopes ${me.key.scopes.join(', ')})`,
    );

    step('Turn on Zaps: Lead Captured, a Conversation Event Zap per event type used below, and Tag Added');
    const zap = async (name: string, trigger: LiveHook['trigger'], inputData: Record<string, string> = {}) => {
      const hook = await w.zap.turnOn(trigger, inputData, hookUrl(inbox, name));
      print(`    ${name.padEnd(28)} → subscription ${hook.subscribeData.id} (${hook.subscribeData.eventType})`);
      zaps.set(hook, { name, shown: 0 });
      return hook;
    };
    const leads = await zap('new-lead', 'lead_captured');
    const chats = await zap('widget-chat-started', 'conversation_event', { event_type: 'widget.conversation_started' });
    const queued = await zap('live-chat-queued', 'conversation_event', { event_type: 'live_chat.session_queued' });
    const pickedUp = await zap('live-chat-picked-up', 'conversation_event', { event_type: 'live_chat.agent_assigned' });
    const newTickets = await zap('ticket-created', 'conversation_event', { event_type: 'ticket.created' });
    const statuses = await zap('ticket-status-changed', 'conversation_event', { event_type: 'ticket.status_changed' });
    const closed = await zap('conversation-closed', 'conversation_event', { event_type: 'conversation.closed' });
    const vip = await zap('vip-contact-tagged', 'tag_added', { tag: 'VIP', record_type: 'contact' });

    /** Waits for the next delivery of each Zap, runs the Zap on it, and prints what it received. */
    const received = async (...hooks: LiveHook[]) => {
      for (const hook of hooks) {
        const state = zaps.get(hook)!;
        state.shown += 1;
        const delivery = (await waitForDeliveries(inbox, hook, state.shown)).at(state.shown - 1);
        if (!delivery) throw new Error(`no delivery ${state.shown} to ${hook.targetUrl}`);
        // The harness checks the signature with the subscription's secret before running perform.
        const [record = {}] = await w.zap.receive(hook, delivery);
        deliveries += 1;
        const type = hook.subscribeData.eventType;
        print(`    ⇒ Zap "${state.name}" received ${type} (${eventLabel(type)}), signature verified:`);
        for (const line of compact(record)) print(line);
      }
    };

    step('A visitor opens the website widget and asks a question');
    const conversation = await startWidgetConversation(w, w.assistant.id, 'Do you ship to Canada?');
    await received(chats);

    step('The visitor fills in the widget lead form');
    await submitLeadForm(w, conversation.id, { email: 'jane@example.com', name: 'Jane Visitor', phone: '+1 555 0100' });
    await received(leads);

    step('The visitor asks for a human, and agent Sam accepts the live chat (takeover)');
    const session = await handOff(w, conversation.id, 'Wants to talk about customs fees');
    await received(queued);
    await accept(w.sam, session.id);
    await received(pickedUp);

    step('Zap action Create Ticket, linked to the lead by Contact Email');
    const ticket = await w.zap.create('create_ticket', {
      subject: 'Customs fees for a Canadian order',
      description: 'Jane asks who pays import duties.',
      priority: 'high',
      contact_email: 'jane@example.com',
    });
    print('    Create Ticket returned:');
    for (const line of compact(ticket)) print(line);
    await received(newTickets);

    step('Zap action Update Ticket: status resolved');
    const resolved = await w.zap.create('update_ticket', { ticket_id: ticket.id, status: 'resolved' });
    print(
      `    Update Ticket returned: #${resolved.number} status=${resolved.status} resolvedAt=${resolved.resolvedAt}`,
    );
    await received(statuses);

    step('Zap action Send Message to Conversation, into the taken-over chat');
    const message = await w.zap.create('send_message', {
      conversation_id: conversation.id,
      message: `Hi Jane, duties are included at checkout. Ticket #${ticket.number} has the details.`,
    });
    print('    Send Message returned:');
    for (const line of compact(message)) print(line);

    step('Zap actions Find Contact, then Add Tag to Contact: vip');
    const [contact] = await w.zap.search('find_contact', { email: 'jane@example.com' });
    if (!contact) throw new Error('Find Contact found no contact for jane@example.com');
    const tagged = await w.zap.create('add_tag_to_contact', { contact_id: contact.id, tag: 'vip' });
    print(
      `    Add Tag to Contact returned: recordId=${tagged.recordId} tag=${tagged.tag} tags=${tagged.tags.join(',')}`,
    );
    await received(vip);

    step('Agent Sam ends the live chat and closes the conversation');
    await endChat(w.sam, session.id);
    await closeConversation(w.sam, conversation.id);
    await received(closed);

    print(`\nDone: ${deliveries} deliveries received, each signed and run by its Zap.`);
    return { deliveries, dbPath: server.dbPath };
  } finally {
    await rx?.close();
    await stack.close();
  }

  function step(title: string): void {
    print(`\n▸ ${title}`);
  }
}

if (require.main === module) {
  // Outside a test runner, zapier-platform-core prints its memory use after every invocation ("ZID: … RSSMEM:"):
  // Lambda housekeeping, not part of what a Zap sees, and it would bury the story.
  const log = console.log.bind(console);
  console.log = (...args: unknown[]) => {
    if (args[0] !== 'ZID:') log(...args);
  };
  runDemo().then(
    () => undefined,
    (error: unknown) => {
      console.error(`\nThe demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exitCode = 1;
    },
  );
}

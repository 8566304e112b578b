/**
 * The fairness phase's fault injector: a receiver that never answers, in the bench's own process (the
 * receiver whose arrivals are timed is a process of its own: servers/receiver.ts).
 */
import http from 'node:http';

export interface HangingReceiver {
  url: string;
  /** Requests read so far (none is ever answered). */
  readonly requests: number;
  /** Destroys every held connection, so the API's attempts end at once, and stops listening. */
  close(): Promise<void>;
}

/** A receiver that reads each request and never answers: every attempt to it holds its slot until the API's timeout. */
export async function startHangingReceiver(): Promise<HangingReceiver> {
  let requests = 0;
  const server = http.createServer((req) => {
    req.resume();
    req.on('end', () => void (requests += 1));
  });
  server.requestTimeout = 0; // hang for as long as the sender waits
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

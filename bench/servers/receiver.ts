/**
 * The benchmark's webhook receiver, in a process of its own (issue 12 §4: sharing the load generator's
 * process, its arrivals waited behind the sender's ticks). Answers every delivery 200 at once and notes,
 * per delivery, when it arrived (epoch ms with sub-millisecond precision, the same clock as the sender's
 * send times on this machine), the event's createdAt (stamped in the API's commit), its webhook-id and
 * path, and the sender's send number, which the bench puts in the widget conversation's visitor id
 * (`bench-<n>`). `GET /_arrivals` hands over and forgets what arrived since the last call;
 * `GET /_count` says how many distinct (path, webhook-id) pairs arrived in all, `GET /_duplicates` how many
 * arrivals repeated a pair already seen (the same delivery sent twice: across several API instances, two
 * workers claiming one delivery). Prints `{"url": …}`.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** [send number (-1 if none), arrived epoch ms, createdAt epoch ms, webhook-id, path] */
export type ArrivalRow = [number, number, number, string, string];

let arrivals: ArrivalRow[] = [];
const seen = new Set<string>();
let duplicates = 0;

const server = http.createServer((req, res) => {
  if (req.url === '/_arrivals') {
    const body = JSON.stringify(arrivals);
    arrivals = [];
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  }
  if (req.url === '/_count') return void res.writeHead(200).end(String(seen.size));
  if (req.url === '/_duplicates') return void res.writeHead(200).end(String(duplicates));
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const arrivedMs = performance.timeOrigin + performance.now();
    res.writeHead(200).end();
    const text = Buffer.concat(chunks).toString('utf8');
    const webhookId = String(req.headers['webhook-id']);
    const path = req.url ?? '';
    const createdAt = (JSON.parse(text) as { createdAt?: string }).createdAt;
    const send = /"visitorId":"bench-(\d+)"/.exec(text)?.[1];
    arrivals.push([
      send === undefined ? -1 : Number(send),
      arrivedMs,
      createdAt ? Date.parse(createdAt) : NaN,
      webhookId,
      path,
    ]);
    const pair = `${path} ${webhookId}`;
    if (seen.has(pair)) duplicates += 1;
    seen.add(pair);
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});

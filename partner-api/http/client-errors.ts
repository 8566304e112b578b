/**
 * Requests Node's HTTP parser rejects before Express sees them (headers over 16 KiB, a malformed request
 * line) would otherwise get Node's bare 400 or 431 with no body. They get the API's one error shape too.
 */
import { type Server, STATUS_CODES } from 'node:http';

export function answerClientErrorsAsJson(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'The request line and headers together must stay under 16 KiB.']
        : [400, 'bad_request', 'The HTTP request could not be parsed.'];
    const body = JSON.stringify({ error: { code, message } });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

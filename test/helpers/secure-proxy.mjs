// node test/helpers/secure-proxy.mjs <listenPort> <targetPort>: forwards HTTP on 127.0.0.1 and marks
// every request as TLS (X-Forwarded-Proto: https). A process of its own, so a test that blocks its
// event loop (spawnSync of cdk deploy) cannot stall it. See auth-emulator.ts.
import http from 'node:http';

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
const server = http.createServer((req, res) => {
  // Expect: 100-continue was answered here already.
  const { expect: _expect, ...headers } = req.headers;
  const upstream = http.request(
    { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: { ...headers, 'x-forwarded-proto': 'https' } },
    (answer) => {
      // Hop-by-hop headers are this proxy's own business (its keep-alive timeout, below).
      const { connection: _c, 'keep-alive': _k, ...answerHeaders } = answer.headers;
      res.writeHead(answer.statusCode ?? 502, answerHeaders);
      answer.pipe(res);
    },
  );
  upstream.on('error', (err) => {
    if (!res.headersSent) res.writeHead(502);
    res.end(String(err));
  });
  req.pipe(upstream);
});
// Longer than any client's idle keep-alive, so a client never reuses a socket this side closed.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.listen(listenPort, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));

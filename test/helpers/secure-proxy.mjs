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
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', (err) => {
    if (!res.headersSent) res.writeHead(502);
    res.end(String(err));
  });
  req.pipe(upstream);
});
server.listen(listenPort, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));

// The example backend: Node's http module only. GET /api/health reports the version and whether the
// database answers, so a release can prove the new instance is up and connected.
'use strict';

const http = require('node:http');
const net = require('node:net');

const DB_CHECK_TIMEOUT_MS = 1000;
const ITEMS = [
  { id: 1, name: 'first item' },
  { id: 2, name: 'second item' },
];

function appVersion(env = process.env) {
  return env.APP_VERSION || env.RAILWAY_GIT_COMMIT_SHA || 'dev';
}

// host and port of DATABASE_URL (postgres default 5432), or null when unset or unreadable.
function databaseAddress(databaseUrl) {
  if (!databaseUrl) return null;
  try {
    const url = new URL(databaseUrl);
    if (!url.hostname) return null;
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) || 5432 };
  } catch {
    return null;
  }
}

// A TCP connect is enough to tell "the database is reachable" without a driver dependency.
function canConnect(address, timeoutMs = DB_CHECK_TIMEOUT_MS) {
  return new Promise((resolve) => {
    if (!address) return resolve(false);
    const socket = net.connect({ host: address.host, port: address.port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function healthReport(env = process.env) {
  const connected = await canConnect(databaseAddress(env.DATABASE_URL));
  return {
    statusCode: connected ? 200 : 503,
    body: {
      status: connected ? 'ok' : 'degraded',
      timestamp: new Date().toISOString(),
      database: connected ? 'connected' : 'disconnected',
      version: appVersion(env),
      commit: env.RAILWAY_GIT_COMMIT_SHA || null,
    },
  };
}

function sendJson(res, statusCode, body) {
  const text = JSON.stringify(body);
  res.writeHead(statusCode, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-App-Version': appVersion(),
  });
  res.end(text);
}

function createServer(env = process.env) {
  return http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendJson(res, 405, { error: 'method not allowed' });
    }
    if (pathname === '/api/health') {
      const report = await healthReport(env);
      return sendJson(res, report.statusCode, report.body);
    }
    if (pathname === '/api/items') {
      return sendJson(res, 200, { items: ITEMS });
    }
    return sendJson(res, 404, { error: 'not found' });
  });
}

function start(env = process.env) {
  const server = createServer(env);
  const port = env.PORT === undefined || env.PORT === '' ? 3000 : Number(env.PORT);
  server.listen(port, () => {
    console.log(`backend listening on port ${server.address().port} (version ${appVersion(env)})`);
  });
  // Railway sends SIGTERM before it stops an old instance: finish the requests in flight, then exit.
  const stop = (signal) => {
    console.log(`${signal} received, closing`);
    server.close(() => process.exit(0));
    server.closeIdleConnections?.();
    setTimeout(() => process.exit(0), 10000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}

if (require.main === module) {
  start();
}

module.exports = { appVersion, databaseAddress, canConnect, healthReport, createServer, start };

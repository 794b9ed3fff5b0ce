'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { createServer, databaseAddress, appVersion } = require('../server.js');

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

async function getHealth(env) {
  const server = createServer(env);
  const port = await listen(server);
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/health`);
    return { status: res.status, body: await res.json() };
  } finally {
    server.close();
  }
}

test('reports ok and connected when the database port answers', async () => {
  const db = net.createServer((socket) => socket.destroy());
  const dbPort = await listen(db);
  try {
    const { status, body } = await getHealth({
      DATABASE_URL: `postgres://app:pw@127.0.0.1:${dbPort}/app`,
      APP_VERSION: '1.4.0',
      RAILWAY_GIT_COMMIT_SHA: 'abc1234def',
    });
    assert.equal(status, 200);
    assert.equal(body.status, 'ok');
    assert.equal(body.database, 'connected');
    assert.equal(body.version, '1.4.0');
    assert.equal(body.commit, 'abc1234def');
    assert.ok(!Number.isNaN(Date.parse(body.timestamp)));
  } finally {
    db.close();
  }
});

test('answers 503 degraded when DATABASE_URL is unset', async () => {
  const { status, body } = await getHealth({});
  assert.equal(status, 503);
  assert.equal(body.status, 'degraded');
  assert.equal(body.database, 'disconnected');
  assert.equal(body.version, 'dev');
  assert.equal(body.commit, null);
});

test('answers 503 when nothing listens on the database port', async () => {
  const closed = net.createServer();
  const port = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));
  const { status, body } = await getHealth({ DATABASE_URL: `postgres://127.0.0.1:${port}/app` });
  assert.equal(status, 503);
  assert.equal(body.database, 'disconnected');
});

test('reads host and port from DATABASE_URL with the postgres default', () => {
  assert.deepEqual(databaseAddress('postgres://u:p@db.internal/app'), { host: 'db.internal', port: 5432 });
  assert.deepEqual(databaseAddress('postgresql://db:6543/x'), { host: 'db', port: 6543 });
  assert.equal(databaseAddress(''), null);
  assert.equal(databaseAddress('not a url'), null);
});

test('the version falls back to the commit, then dev', () => {
  assert.equal(appVersion({ RAILWAY_GIT_COMMIT_SHA: 'abc1234' }), 'abc1234');
  assert.equal(appVersion({}), 'dev');
});

test('unknown paths are 404 and items are listed', async () => {
  const server = createServer({});
  const port = await listen(server);
  try {
    assert.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
    const items = await (await fetch(`http://127.0.0.1:${port}/api/items`)).json();
    assert.equal(items.items[0].id, 1);
  } finally {
    server.close();
  }
});

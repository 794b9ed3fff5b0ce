'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { createServer, resolvePath } = require('../serve.js');

test('describeHealth shows a healthy backend with its version', async () => {
  const { describeHealth } = await import('../public/health.js');
  const view = describeHealth(200, { status: 'ok', version: '1.4.0', database: 'connected' });
  assert.equal(view.ok, true);
  assert.equal(view.label, 'healthy');
  assert.equal(view.details, 'version 1.4.0, database connected');
});

test('describeHealth shows a degraded backend as unhealthy', async () => {
  const { describeHealth } = await import('../public/health.js');
  const view = describeHealth(503, { status: 'degraded', database: 'disconnected' });
  assert.equal(view.ok, false);
  assert.equal(view.label, 'unhealthy (HTTP 503)');
});

test('paths never leave the public folder', () => {
  assert.equal(resolvePath('/'), path.join(__dirname, '..', 'public', 'index.html'));
  assert.equal(resolvePath('/../serve.js'), null);
  assert.equal(resolvePath('/%2e%2e/serve.js'), null);
});

test('serves index.html with its title', async () => {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${server.address().port}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<title>kars-app<\/title>/);
    assert.equal((await fetch(`http://127.0.0.1:${server.address().port}/missing.txt`)).status, 404);
  } finally {
    server.close();
  }
});

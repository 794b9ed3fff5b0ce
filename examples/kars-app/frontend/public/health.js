// Turns the backend's /api/health answer into what the page shows. Pure, so node --test can check it.
export function describeHealth(status, body) {
  const ok = status === 200 && body !== null && typeof body === 'object' && body.status === 'ok';
  const version = body && typeof body.version === 'string' ? body.version : 'unknown';
  const database = body && typeof body.database === 'string' ? body.database : 'unknown';
  return {
    ok,
    label: ok ? 'healthy' : `unhealthy (HTTP ${status})`,
    details: `version ${version}, database ${database}`,
  };
}

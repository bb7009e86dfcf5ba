/**
 * The gateway gives memory back after a bulk load (kernel/heap-compaction.ts): once a snapshot made a view
 * ready and enough rows came in since the last compaction, it runs two full collections and logs it. Small
 * snapshots below the threshold compact nothing; a bad FUSTOR_GATEWAY_COMPACT_AFTER_ROWS is a warning, not a
 * failed start.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { demoConfig, dirRow, fileRow, snapshotBatch, startGateway } from './helpers/gateway.ts';

const COMPACTED = 'heap compacted after a snapshot load';

function rows(dir: string, n: number) {
  return [dirRow(dir), ...Array.from({ length: n }, (_, i) => fileRow(`${dir}/f${i}.dat`, { size: i }))];
}

test('a snapshot of at least FUSTOR_GATEWAY_COMPACT_AFTER_ROWS rows is followed by a compaction, logged with the rows since the last one and the RSS', async () => {
  const gw = await startGateway(demoConfig(), { env: { FUSTOR_GATEWAY_COMPACT_AFTER_ROWS: '3000' } });
  try {
    const small = await gw.agent('small:demo');
    await small.pushOk(snapshotBatch(rows('/small', 50), { isEnd: true }));
    await small.close();
    // Below the threshold: the view is ready and nothing is compacted.
    const ready = await gw.waitForLog((r) => r.msg === 'snapshot complete: view scope ready', 20000);
    assert.ok(ready);

    const big = await gw.agent('big:demo');
    for (let b = 0; b < 4; b++) await big.pushOk(snapshotBatch(rows(`/big/${b}`, 999)));
    await big.pushOk(snapshotBatch([], { isEnd: true }));
    const rec = await gw.waitForLog((r) => r.msg === COMPACTED, 20000);
    // Rows since the start: the small snapshot's 51 (below the threshold, not compacted then) and the big one's 4,000.
    assert.equal(rec.rows, 51 + 4000);
    assert.equal(typeof rec.rss_before_mib, 'number');
    assert.equal(typeof rec.rss_after_mib, 'number');
    const res = await gw.get('/api/v1/views/demo/stats');
    assert.equal(res.status, 200, 'the gateway serves after compacting');
  } finally {
    await gw.stop();
  }
});

test('FUSTOR_GATEWAY_COMPACT_AFTER_ROWS=0 never compacts; a bad value warns with one line naming the variable and keeps the default', async () => {
  const off = await startGateway(demoConfig(), { env: { FUSTOR_GATEWAY_COMPACT_AFTER_ROWS: '0' } });
  try {
    const a = await off.agent();
    await a.pushOk(snapshotBatch(rows('/x', 200), { isEnd: true }));
    await off.waitForLog((r) => r.msg === 'snapshot complete: view scope ready', 20000);
    // A compaction would be logged about 2 s after the load (0.5 s + 1.5 s between the two collections).
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(off.logs().filter((r) => r.msg === COMPACTED).length, 0);
  } finally {
    await off.stop();
  }

  const bad = await startGateway(demoConfig(), { env: { FUSTOR_GATEWAY_COMPACT_AFTER_ROWS: 'lots' } });
  try {
    const warn = await bad.waitForLog((r) => typeof r.msg === 'string' && r.msg.includes('FUSTOR_GATEWAY_COMPACT_AFTER_ROWS'), 20000);
    assert.match(String(warn.msg), /must be a whole number of rows \(0 = never compact\), not "lots": using 100000/);
    assert.equal((await bad.get('/api/v1/views/demo/stats')).status, 503, 'running (the view waits for a snapshot)');
  } finally {
    await bad.stop();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../kernel/logger.ts';
import type { GatewayManifest } from '../../protocol/index.ts';
import { KeyIndex, keyHash } from '../config/key-index.ts';
import { Gateway } from '../gateway.ts';
import { emptyManagedConfig, manifestConfig, ManifestError, MANAGED_RECEIVER } from './gateway-manifest.ts';
import { applyManifest } from './managed-gateway.ts';

const listener = { host: '127.0.0.1', port: 0 };

function manifest(over: Partial<GatewayManifest> = {}): GatewayManifest {
  return {
    kind: 'gateway',
    member: 'gw-1',
    views: [
      { id: 'docs', driver: 'fs', driver_params: { max_tree_items: 500 }, live_mode: true, pipes: [{ id: 'docs-a', agents: ['m-a'] }, { id: 'docs-b', agents: ['m-b', 'm-c'] }] },
      { id: 'forest', driver: 'forest-fs', pipes: [{ id: 'forest-a', agents: [] }] },
    ],
    trust: { issuer: 'fustor-controller', jwks_url: 'http://controller.example:8100/api/v1/jwks' },
    revoked_members: ['m-old'],
    query_keys: [{ name: 'readers', hash: keyHash('fqk_reader'), views: ['docs', 'not-served'] }],
    ...over,
  };
}

function errorOf(fn: () => unknown): ManifestError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ManifestError, String(e));
    return e;
  }
  assert.fail('no error thrown');
}

test('manifest → config: a view per manifest view, a pipe per view pipe on the main listener, access kept apart', () => {
  const cfg = manifestConfig(manifest(), listener);
  assert.deepEqual([...cfg.views.keys()], ['docs', 'forest']);
  assert.equal(cfg.views.get('docs')!.driver, 'fs');
  assert.equal(cfg.views.get('docs')!.settings.maxTreeItems, 500);
  assert.equal(cfg.views.get('forest')!.driver, 'forest-fs');
  assert.deepEqual([...cfg.pipes.keys()], ['docs-a', 'docs-b', 'forest-a']);
  const pipe = cfg.pipes.get('docs-b')!;
  assert.deepEqual(pipe.viewIds, ['docs']);
  assert.equal(pipe.liveMode, true);
  assert.equal(pipe.disabled, false);
  assert.equal(cfg.pipes.get('forest-a')!.liveMode, false);
  assert.equal(cfg.receivers.get(MANAGED_RECEIVER)!.port, null);
  assert.deepEqual([...cfg.access!.pipeAgents.get('docs-b')!], ['m-b', 'm-c']);
  assert.deepEqual([...cfg.access!.revoked], ['m-old']);
  assert.deepEqual([...cfg.access!.queryKeys.get(keyHash('fqk_reader'))!], ['docs']);
  assert.equal(cfg.access!.trust.jwksUrl, 'http://controller.example:8100/api/v1/jwks');
  assert.equal(cfg.port, 0);
});

test('manifest → config: content the gateway cannot run is refused naming the field', () => {
  const views = manifest().views;
  assert.match(errorOf(() => manifestConfig(manifest({ views: [{ ...views[0], driver: 'sql' }] }), listener)).message, /^manifest views\[0\]\.driver: unknown driver 'sql' \(known drivers: fs, forest-fs\)$/);
  const badParams = { ...views[0], driver_params: { max_nodes: -1 } };
  assert.equal(errorOf(() => manifestConfig(manifest({ views: [badParams] }), listener)).field, 'views[0].driver_params.max_nodes');
  const unknownParam = { ...views[0], driver_params: { colour: 'red' } as never };
  assert.equal(errorOf(() => manifestConfig(manifest({ views: [unknownParam] }), listener)).field, 'views[0].driver_params.colour');
  const twice = { ...views[1], pipes: [{ id: 'docs-a', agents: [] }] };
  assert.match(errorOf(() => manifestConfig(manifest({ views: [views[0], twice] }), listener)).message, /pipe 'docs-a' is listed under two views/);
  assert.equal(errorOf(() => manifestConfig(manifest({ views: [{ ...views[0], id: 'a/b' }] }), listener)).field, 'views[0].id');
  assert.equal(errorOf(() => manifestConfig(manifest({ query_keys: [{ name: 'k', hash: 'plain-key', views: ['docs'] }] }), listener)).field, 'query_keys[0].hash');
  assert.equal(errorOf(() => manifestConfig({ kind: 'agent', member: 'gw-1', pipes: [] }, listener)).field, 'kind');
});

test('key index — hashed query keys grant their views; agents are granted per pipe by the manifest', () => {
  const keys = KeyIndex.build(manifestConfig(manifest(), listener));
  assert.deepEqual([...keys.lookup('fqk_reader')!.views], ['docs']);
  assert.equal(keys.lookup('fqk_other'), undefined);
  assert.equal(keys.lookup(keyHash('fqk_reader')), undefined, 'the hash itself is not a key');
  const g = keys.agentGrant('m-b', 'docs-b');
  assert.deepEqual(g.pipe, { pipeId: 'docs-b', receiverId: MANAGED_RECEIVER });
  assert.equal(g.member, 'm-b');
  assert.throws(() => keys.agentGrant('m-a', 'docs-b'), /agent m-a is not assigned to pipe 'docs-b'/);
  assert.throws(() => keys.agentGrant('m-a', 'nope'), /pipe 'nope' is not served by this gateway/);
  const revoked = KeyIndex.build(manifestConfig(manifest({ revoked_members: ['m-a'] }), listener));
  assert.throws(() => revoked.agentGrant('m-a', 'docs-a'), /agent m-a was revoked/);
  assert.equal(keys.allows({ principal: 'agent:m-a', memberId: 'm-a', pipeId: 'docs-a' }), true);
  assert.equal(revoked.allows({ principal: 'agent:m-a', memberId: 'm-a', pipeId: 'docs-a' }), false);
  assert.throws(() => KeyIndex.build(emptyManagedConfig(listener)).agentGrant('m-a', 'docs-a'), /not served/);
});

test('apply — valid manifests reconcile the running gateway; an invalid one is FAILED and changes nothing', async () => {
  const gw = await Gateway.start({ config: emptyManagedConfig(listener), log: silentLogger() });
  try {
    assert.equal(gw.config.views.size, 0);
    const first = await applyManifest(gw, null, manifest(), listener);
    assert.equal(first.status, 'APPLIED');
    const docs = gw.view('docs');
    assert.ok(docs !== undefined);

    const bad = await applyManifest(gw, null, manifest({ views: [{ ...manifest().views[0], driver: 'sql' }] }), listener);
    assert.equal(bad.status, 'FAILED');
    assert.match(bad.error!, /unknown driver 'sql'/);
    assert.deepEqual([...gw.config.views.keys()], ['docs', 'forest']);
    assert.equal(gw.view('docs'), docs, 'the running view was not touched');

    // Access changes (new agent, new key, revocation) never restart a view: its tree stays.
    const access = manifest({ revoked_members: ['m-old', 'm-c'], query_keys: [{ name: 'k2', hash: keyHash('fqk_second'), views: ['forest'] }] });
    access.views[0].pipes[0].agents.push('m-new');
    const again = await applyManifest(gw, null, access, listener);
    assert.equal(again.status, 'APPLIED');
    assert.deepEqual(again.diff!.views.changed, []);
    assert.deepEqual(again.diff!.pipes.changed, []);
    assert.equal(gw.view('docs'), docs);
    assert.equal(gw.keys().lookup('fqk_reader'), undefined);
    assert.deepEqual([...gw.keys().lookup('fqk_second')!.views], ['forest']);

    const fewer = await applyManifest(gw, null, manifest({ views: [manifest().views[1]] }), listener);
    assert.deepEqual(fewer.diff!.views.removed, ['docs']);
    assert.equal(gw.view('docs'), undefined);
  } finally {
    await gw.dispose();
  }
});

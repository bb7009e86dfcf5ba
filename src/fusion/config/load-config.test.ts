import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FUSION_DEFAULTS } from '../../protocol/index.ts';
import { ConfigError, loadConfigDir, mergeConfigDocs } from './load-config.ts';
import { diffConfig } from './diff-config.ts';

const base = () => ({
  receivers: { r: { driver: 'http', api_keys: [{ key: 'agent-key-0001', pipe_id: 'p' }] } },
  views: { v: { driver: 'fs', api_keys: ['query-key-0001'] } },
  pipes: { p: { receiver: 'r', views: ['v'] } },
});

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  assert.fail('expected a ConfigError');
}

test('defaults fill everything the YAML leaves out', () => {
  const { config } = mergeConfigDocs([{ file: 'a.yaml', doc: base() }]);
  assert.equal(config.port, FUSION_DEFAULTS.port);
  assert.equal(config.maxBodyBytes, FUSION_DEFAULTS.maxBodyBytes);
  const p = config.pipes.get('p')!;
  assert.equal(p.sessionTimeoutSeconds, 30);
  assert.equal(p.queueCapacity, 1000);
  assert.equal(p.allowConcurrentPush, true);
  assert.equal(p.disabled, false);
  const v = config.views.get('v')!;
  assert.deepEqual(v.settings, { hotFileThreshold: 30, tombstoneTtlSeconds: 3600, maxTreeItems: 100000, maxNodes: 0, auditIntervalSec: 43200, journalSize: 100000 });
  assert.equal(config.receivers.get('r')!.port, null, 'no port: served on the main listener');
});

test('predecessor nesting of driver_params is still read', () => {
  const doc = base() as Record<string, Record<string, Record<string, unknown>>>;
  doc.views.v.driver_params = { consistency: { tombstone_ttl_seconds: 5 }, limits: { max_nodes: 9 } };
  const v = mergeConfigDocs([{ file: 'a.yaml', doc }]).config.views.get('v')!;
  assert.equal(v.settings.tombstoneTtlSeconds, 5);
  assert.equal(v.settings.maxNodes, 9);
});

test('later files replace earlier ids, with a warning naming both files', () => {
  const later = { pipes: { p: { receiver: 'r', views: ['v'], queue_capacity: 5 } } };
  const { config, warnings } = mergeConfigDocs([{ file: 'a.yaml', doc: base() }, { file: 'b.yaml', doc: later }]);
  assert.equal(config.pipes.get('p')!.queueCapacity, 5);
  assert.deepEqual(warnings, ['pipes.p defined in a.yaml is replaced by the definition in b.yaml']);
});

test('semantic errors name the file of the offending entry and the field', () => {
  const e1 = errorOf(() => mergeConfigDocs([{ file: 'a.yaml', doc: base() }, { file: 'b.yaml', doc: { pipes: { p: { receiver: 'r', views: ['v', 'w'] } } } }]));
  assert.equal(e1.message, "config error in b.yaml: pipes.p.views[1]: view 'w' is not defined (known views: v)");

  const doc = base() as Record<string, Record<string, Record<string, unknown>>>;
  doc.pipes.q = { receiver: 'r', views: ['v'] };
  (doc.receivers.r.api_keys as unknown[]).push({ key: 'agent-key-0001', pipe_id: 'q' });
  const e2 = errorOf(() => mergeConfigDocs([{ file: 'a.yaml', doc }]));
  assert.equal(e2.field, 'receivers.r.api_keys[1].key');
  assert.ok(!e2.message.includes('agent-key-0001'), 'never print a key');

  const e3 = errorOf(() => mergeConfigDocs([{ file: 'a.yaml', doc: { ...base(), receivers: { r: { driver: 'http', api_keys: [{ key: 'agent-key-0001', pipe_id: 'zz' }] } } } }]));
  assert.equal(e3.message, "config error in a.yaml: receivers.r.api_keys[0].pipe_id: pipe 'zz' is not defined (known pipes: p)");
});

test('structural errors: unknown driver, wrong type, unknown field, bad id', () => {
  const withView = (v: Record<string, unknown>) => ({ ...base(), views: { v: { driver: 'fs', api_keys: [], ...v } } });
  assert.equal(errorOf(() => mergeConfigDocs([{ file: 'x.yaml', doc: withView({ driver: 'nfs' }) }])).message, "config error in x.yaml: views.v.driver: unknown driver 'nfs' (known drivers: fs, forest-fs)");
  assert.equal(errorOf(() => mergeConfigDocs([{ file: 'x.yaml', doc: { ...base(), session_cleanup_interval: 'soon' } }])).message, 'config error in x.yaml: session_cleanup_interval: must be number');
  assert.equal(errorOf(() => mergeConfigDocs([{ file: 'x.yaml', doc: withView({ colour: 'red' }) }])).message, 'config error in x.yaml: views.v.colour: unknown field');
  assert.match(errorOf(() => mergeConfigDocs([{ file: 'x.yaml', doc: { views: { 'bad id': { driver: 'fs' } } } }])).message, /^config error in x\.yaml: views\.bad id: 'bad id' is not a valid id/);
  assert.equal(errorOf(() => mergeConfigDocs([{ file: 'x.yaml', doc: ['a'] }])).field, null);
});

test('loadConfigDir reads *.yaml in name order; YAML syntax errors carry the line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fustor-cfg-'));
  writeFileSync(join(dir, '20-pipes.yaml'), 'pipes:\n  p:\n    receiver: r\n    views: [v]\n');
  writeFileSync(join(dir, '10-base.yaml'), 'receivers:\n  r:\n    driver: http\n    api_keys: [{key: agent-key-0001, pipe_id: p}]\nviews:\n  v:\n    driver: fs\n');
  writeFileSync(join(dir, 'notes.txt'), 'ignored');
  const loaded = loadConfigDir(dir);
  assert.deepEqual(loaded.files, [join(dir, '10-base.yaml'), join(dir, '20-pipes.yaml')]);
  assert.equal(loaded.config.pipes.get('p')!.viewIds[0], 'v');

  writeFileSync(join(dir, '30-broken.yaml'), 'views:\n  v:\n    driver: fs\n  driver: fs\n  driver: x\n');
  const e = errorOf(() => loadConfigDir(dir));
  assert.equal(e.file, join(dir, '30-broken.yaml'));
  assert.match(e.field ?? '', /^line \d+$/);

  assert.match(errorOf(() => loadConfigDir(join(dir, 'nope'))).message, /: no such directory$/);
  const empty = mkdtempSync(join(tmpdir(), 'fustor-cfg-'));
  assert.match(errorOf(() => loadConfigDir(empty)).message, /no \*\.yaml file/);
});

test('a pipe whose views are all disabled is disabled; disabled views are skipped', () => {
  const doc = base() as Record<string, Record<string, Record<string, unknown>>>;
  doc.views.v.disabled = true;
  const { config } = mergeConfigDocs([{ file: 'a.yaml', doc }]);
  assert.deepEqual(config.pipes.get('p')!.viewIds, []);
  assert.equal(config.pipes.get('p')!.disabled, true);
});

test('diffConfig: added, removed, changed, unchanged per section; spelled-out defaults are unchanged', () => {
  const a = mergeConfigDocs([{ file: 'a.yaml', doc: base() }]).config;
  const doc = base() as Record<string, Record<string, Record<string, unknown>>>;
  doc.pipes.p.session_timeout_seconds = 30; // the default, spelled out
  doc.views.w = { driver: 'forest-fs', api_keys: [] };
  doc.views.v.driver_params = { hot_file_threshold: 5 };
  const b = mergeConfigDocs([{ file: 'b.yaml', doc }]).config;
  const d = diffConfig(a, b);
  assert.deepEqual(d.pipes, { added: [], removed: [], changed: [], unchanged: ['p'] });
  assert.deepEqual(d.views, { added: ['w'], removed: [], changed: ['v'], unchanged: [] });
  assert.deepEqual(d.receivers.unchanged, ['r']);
  assert.deepEqual(diffConfig(b, a).views.removed, ['w']);
  assert.deepEqual(d.global, []);
});

test('tls: both files required, kept as written; a change is a restart-only global setting', () => {
  const plain = mergeConfigDocs([{ file: 'a.yaml', doc: base() }]).config;
  assert.equal(plain.tls, undefined);
  const tls = mergeConfigDocs([{ file: 'a.yaml', doc: { ...base(), tls: { cert_file: 'certs/gw.pem', key_file: 'certs/gw.key' } } }]).config;
  assert.deepEqual(tls.tls, { certFile: 'certs/gw.pem', keyFile: 'certs/gw.key' });
  assert.deepEqual(diffConfig(plain, tls).global, ['tls']);
  assert.deepEqual(diffConfig(tls, tls).global, []);
  const e = errorOf(() => mergeConfigDocs([{ file: 'a.yaml', doc: { ...base(), tls: { cert_file: 'gw.pem' } } }]));
  assert.equal(e.field, 'tls.key_file');
});

/** Standalone agent configuration: merge, validation (one line naming file and field), per-pipe diff. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentConfigError, diffPipes, loadAgentConfigDir } from '../src/agent/config/index.ts';

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fustor-agent-cfg-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const BASE = `
agent_id: host-a
sources: { src-a: { driver: fs, uri: /mnt/data, driver_params: { file_pattern: "*.txt", watch_limit: 10 } }, src-b: { driver: fs, uri: /mnt/b } }
senders: { to-fusion: { driver: fusion, uri: "http://fusion:8102/", credential: { key: agent-key-1 } } }
pipes:
  pipe-a: { source: src-a, sender: to-fusion, audit_interval_sec: 60 }
  pipe-b: { source: src-b, sender: to-fusion }
`;

test('loads, merges in file-name order with a warning, resolves defaults', () => {
  const dir = dirWith({ '00-base.yaml': BASE, '10-over.yaml': 'pipes: { pipe-b: { source: src-b, sender: to-fusion, sentinel_interval_sec: 7 } }\n' });
  try {
    const { config, warnings } = loadAgentConfigDir(dir);
    assert.equal(config.agentId, 'host-a');
    assert.deepEqual([...config.pipes.keys()].sort(), ['pipe-a', 'pipe-b']);
    const a = config.pipes.get('pipe-a')!;
    assert.equal(a.source.uri, '/mnt/data');
    assert.equal(a.source.filePattern, '*.txt');
    assert.equal(a.source.throttleIntervalSec, 5);
    assert.equal(a.source.watchLimit, 10);
    assert.equal(a.sender.uri, 'http://fusion:8102');
    assert.equal(a.sender.key, 'agent-key-1');
    assert.equal(a.auditIntervalSec, 60);
    assert.equal(config.pipes.get('pipe-b')!.sentinelIntervalSec, 7);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /pipes\.pipe-b defined in .*00-base\.yaml is replaced by the definition in .*10-over\.yaml/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('agent_id defaults to the host name', () => {
  const dir = dirWith({ 'a.yaml': BASE.replace('agent_id: host-a', '') });
  try {
    assert.ok(loadAgentConfigDir(dir).config.agentId.length > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const BAD: [string, string, RegExp][] = [
  ['dangling source', BASE.replace('source: src-a', 'source: nope'), /a\.yaml: pipes\.pipe-a\.source: source 'nope' is not defined/],
  ['dangling sender', BASE.replace('sender: to-fusion, audit', 'sender: nope, audit'), /pipes\.pipe-a\.sender: sender 'nope' is not defined/],
  ['same pair', BASE.replace('source: src-b', 'source: src-a'), /pipes\.pipe-b: redundant configuration/],
  ['unknown driver', BASE.replace('driver: fusion', 'driver: kafka'), /senders\.to-fusion\.driver: unknown driver 'kafka'/],
  ['relative uri', BASE.replace('/mnt/data', 'data'), /sources\.src-a\.uri: must be an absolute directory path/],
  ['bad type', BASE.replace('audit_interval_sec: 60', 'audit_interval_sec: soon'), /pipes\.pipe-a\.audit_interval_sec: /],
  ['unknown field', BASE.replace('audit_interval_sec: 60', 'audit_intervl: 60'), /pipes\.pipe-a\.audit_intervl: unknown field/],
  ['missing key', BASE.replace('credential: { key: agent-key-1 }', 'credential: {}'), /senders\.to-fusion\.credential\.key: required field is missing/],
  ['yaml syntax', 'pipes: [\n', /a\.yaml: line \d+: /],
];

for (const [name, text, re] of BAD) {
  test(`invalid config → one line naming file and field: ${name}`, () => {
    const dir = dirWith({ 'a.yaml': text });
    try {
      assert.throws(() => loadAgentConfigDir(dir), (e: unknown) => {
        assert.ok(e instanceof AgentConfigError);
        assert.doesNotMatch(e.message, /\n/);
        assert.doesNotMatch(e.message, /agent-key-1/);
        assert.match(e.message, re);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('diffPipes: added, removed, changed (incl. through its source or sender), unchanged', () => {
  const load = (text: string) => {
    const dir = dirWith({ 'a.yaml': text });
    try {
      return loadAgentConfigDir(dir).config;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const old = load(BASE);
  assert.deepEqual(diffPipes(old, load(BASE)), { added: [], removed: [], changed: [], unchanged: ['pipe-a', 'pipe-b'] });
  const viaSource = load(BASE.replace('uri: /mnt/b', 'uri: /mnt/c'));
  assert.deepEqual(diffPipes(old, viaSource), { added: [], removed: [], changed: ['pipe-b'], unchanged: ['pipe-a'] });
  const addRemove = load(BASE.replace('pipe-b:', 'pipe-c:'));
  assert.deepEqual(diffPipes(old, addRemove), { added: ['pipe-c'], removed: ['pipe-b'], changed: [], unchanged: ['pipe-a'] });
  const viaSender = load(BASE.replace('agent-key-1', 'agent-key-2'));
  assert.deepEqual(diffPipes(old, viaSender).changed, ['pipe-a', 'pipe-b']);
});

test('the example configuration loads', () => {
  const { config } = loadAgentConfigDir(new URL('../examples/standalone/agent', import.meta.url).pathname);
  assert.deepEqual([...config.pipes.keys()], ['demo']);
  assert.equal(config.pipes.get('demo')!.sender.uri, 'http://127.0.0.1:8101');
});

test('a fields_mapping that cannot be applied is refused at load time with one line naming the pipe', () => {
  const dir = dirWith({
    'a.yaml': `${BASE}  pipe-m: { source: src-b, sender: to-fusion, fields_mapping: [{ to: path, source: ["path:weird"] }] }\n`,
  });
  try {
    assert.throws(() => loadAgentConfigDir(dir), (e: unknown) => {
      assert.ok(e instanceof AgentConfigError);
      assert.match(e.message, /a\.yaml: pipes\.pipe-m\.fields_mapping: \[0\] source: unknown type 'weird'/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * An agent manifest (spec 50) as the agent's own configuration: each manifest pipe becomes a source, a
 * sender and a pipe of the standalone layout, validated by the same rules as a configuration directory
 * (so a bad `uri` or `driver_params` is refused with the same one-line message), then pointed at the
 * member credential file instead of a shared key. Checks what only this host can know — the source
 * directory exists — so an impossible manifest is refused (FAILED) instead of leaving a pipe crash-looping.
 */
import { statSync } from 'node:fs';
import type { AgentManifest } from '../../protocol/index.ts';
import { AgentConfigError, mergeAgentConfigDocs, type AgentConfig } from '../config/load-config.ts';

export class ManifestRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestRefused';
  }
}

export function manifestToConfig(m: AgentManifest, credentialFile: string, where: string): AgentConfig {
  const sources: Record<string, unknown> = {};
  const senders: Record<string, unknown> = {};
  const pipes: Record<string, unknown> = {};
  for (const p of m.pipes) {
    sources[p.id] = { driver: p.source.driver, uri: p.source.uri, ...(p.source.driver_params === undefined ? {} : { driver_params: p.source.driver_params }) };
    senders[p.id] = { driver: 'fusion', uri: p.gateway_url, credential: { key: 'member-credential' } };
    pipes[p.id] = {
      source: p.id, sender: p.id,
      ...(p.audit_interval_sec === undefined ? {} : { audit_interval_sec: p.audit_interval_sec }),
      ...(p.sentinel_interval_sec === undefined ? {} : { sentinel_interval_sec: p.sentinel_interval_sec }),
      ...(p.fields_mapping === undefined ? {} : { fields_mapping: p.fields_mapping }),
    };
  }
  let config: AgentConfig;
  try {
    config = mergeAgentConfigDocs([{ file: where, doc: { agent_id: m.member, sources, senders, pipes } }]).config;
  } catch (e) {
    if (e instanceof AgentConfigError) throw new ManifestRefused(e.message);
    throw e;
  }
  for (const p of config.pipes.values()) {
    let isDir = false;
    try {
      isDir = statSync(p.source.uri).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) throw new ManifestRefused(`pipe '${p.pipeId}': source ${p.source.uri} is not a directory on this host`);
    p.sender = { ...p.sender, key: '', credentialFile };
  }
  return config;
}

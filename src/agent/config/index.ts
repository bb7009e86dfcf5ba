/** Public surface of the agent's standalone configuration. */
export { AgentConfigError, loadAgentConfigDir, mergeAgentConfigDocs, type AgentConfig, type LoadedAgentConfig, type ResolvedPipe } from './load-config.ts';
export { diffPipes, type PipeDiff } from './diff-pipes.ts';
export { DebugFault } from './agent-config-schema.ts';

/** Public surface of the agent shell (control loop, supervisor, status endpoint). */
export { AgentShell, type AgentShellOptions, type AgentStatus, type ManagedStatus, type ReloadResult } from './agent-shell.ts';
export { Supervisor, type SupervisedPipeStatus, type SupervisorOptions } from './supervisor.ts';
export { StatusServer, callAgent } from './status-server.ts';

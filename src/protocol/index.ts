/** Public surface of the protocol: the only code shared by agent, gateway and controller. */
export * from './paths.ts';
export * from './events.ts';
export * from './ingest.ts';
export * from './query.ts';
export * from './errors.ts';
export * from './fusion-config.ts';
export * from './resources.ts';
export * from './management.ts';
export * from './control.ts';
export * from './fleet.ts';

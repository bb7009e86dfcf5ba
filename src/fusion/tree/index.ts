/** Public surface of the tree store (see README.md). */
export * from './tree-store.ts';

/** Public surface of the fs view engine (see README.md). */
export { FsView, type FsViewOptions } from './fs-view.ts';
export { ChangeJournal } from './change-journal.ts';
export { ChunkWriter, type TreePlan } from './tree-json.ts';
export { readChanges } from './changes.ts';
export { offsetCursor } from './blind-spots.ts';
export { checkTreeSize } from './tree-json.ts';
export { checkPath } from './row-validation.ts';

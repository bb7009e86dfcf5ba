/**
 * Turns TypeBox validation errors into one human line naming the field: `pipes.pipe-a.views[0]: must be
 * string`. Used for config files (here) and request bodies (http). Picks the first error in document
 * order and folds the noise TypeBox emits around unions and closed objects.
 */
import { fieldPath as fieldName, type SchemaError } from '../../kernel/schema-path.ts';

export { fieldName, type SchemaError };

/** Segments below which keys are free-form ids (records) rather than field names. */
export type RecordPaths = (segments: string[]) => boolean;

/** One line for the first meaningful error, or null when there is none. */
export function describeSchemaErrors(errors: Iterable<SchemaError>, prefix = '', isRecord: RecordPaths = () => false): { field: string; problem: string } | null {
  const list = [...errors];
  if (list.length === 0) return null;
  // TypeBox reports a closed-object violation twice (the property as "schema is false", the object as
  // additionalProperties); keep the object form, which names the property.
  const meaningful = list.filter((e) => !(e.keyword === 'boolean' && e.message === 'schema is false'));
  const first = meaningful[0] ?? list[0];
  const path = first.instancePath;
  const segments = path.split('/').slice(1);

  if (first.keyword === 'additionalProperties') {
    const names = (first.params.additionalProperties as string[] | undefined) ?? [];
    const name = names[0] ?? '?';
    const field = fieldName(`${path}/${name}`, prefix);
    if (isRecord(segments)) return { field, problem: `'${name}' is not a valid id (letters, digits, '_', '.', '-'; at most 64 characters; starts with a letter or digit)` };
    return { field, problem: 'unknown field' };
  }
  if (first.keyword === 'required') {
    const names = (first.params.requiredProperties as string[] | undefined) ?? [String(first.params.missingProperty ?? '?')];
    return { field: fieldName(`${path}/${names[0]}`, prefix), problem: 'required field is missing' };
  }
  if (first.keyword === 'const' || first.keyword === 'anyOf') {
    // A union of literals: list the allowed values once.
    const allowed = list
      .filter((e) => e.instancePath === path && e.keyword === 'const')
      .map((e) => JSON.stringify(e.params.allowedValue));
    if (allowed.length > 0) return { field: fieldName(path, prefix), problem: `must be one of ${allowed.join(', ')}` };
    return { field: fieldName(path, prefix), problem: 'has an invalid value' };
  }
  return { field: fieldName(path, prefix), problem: first.message };
}

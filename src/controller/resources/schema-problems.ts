/**
 * TypeBox errors → field-level problems `{path, message}`, ALL of them (an apply is rejected as a whole
 * and the operator should fix every field in one go). Folds the noise TypeBox emits around unions of
 * literals and closed objects. Paths read like `[1].spec.source.uri` (prefix + dotted fields + [index]).
 */
import { ID_PATTERN, type FieldProblem } from '../../protocol/index.ts';
import { fieldPath, type SchemaError } from '../../kernel/schema-path.ts';

export { fieldPath, type SchemaError };

const ID_PROBLEM = "must be an id: letters, digits, '_', '.', '-', starting with a letter or digit, at most 64 characters";

/** Maps whose keys are free-form but constrained: a bad key is not an "unknown field". */
const RECORD_KEY_PROBLEMS: Record<string, string> = {
  labels: "is not a valid label key (letters, digits, '_', '.', '/', '-'; starts and ends with a letter or digit; at most 64 characters)",
  matchLabels: "is not a valid label key (letters, digits, '_', '.', '/', '-'; starts and ends with a letter or digit; at most 64 characters)",
  data: "is not a valid Secret data key (letters, digits, '_', '.', '-'; at most 128 characters)",
};

export function schemaProblems(errors: Iterable<SchemaError>, prefix = ''): FieldProblem[] {
  const list = [...errors].filter((e) => !(e.keyword === 'boolean' && e.message === 'schema is false'));
  const out: FieldProblem[] = [];
  const seen = new Set<string>();
  const push = (path: string, message: string) => {
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ path, message });
  };
  // Paths where a union of literals failed: report once with the allowed values.
  const unionPaths = new Set(list.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const e of list) {
    const path = e.instancePath;
    if (e.keyword === 'additionalProperties') {
      const last = path.split('/').pop() ?? '';
      const problem = RECORD_KEY_PROBLEMS[last] ?? 'unknown field';
      for (const name of (e.params.additionalProperties as string[] | undefined) ?? []) push(fieldPath(`${path}/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`, prefix), problem);
    } else if (e.keyword === 'required') {
      const names = (e.params.requiredProperties as string[] | undefined) ?? [String(e.params.missingProperty ?? '?')];
      for (const n of names) push(fieldPath(`${path}/${n}`, prefix), 'required field is missing');
    } else if (unionPaths.has(path) && (e.keyword === 'const' || e.keyword === 'anyOf')) {
      if (e.keyword !== 'anyOf') continue;
      const allowed = list.filter((x) => x.instancePath === path && x.keyword === 'const').map((x) => JSON.stringify(x.params.allowedValue));
      push(fieldPath(path, prefix), allowed.length > 0 ? `must be one of ${allowed.join(', ')}` : 'has an invalid value');
    } else if (e.keyword === 'const') {
      push(fieldPath(path, prefix), `must be ${JSON.stringify(e.params.allowedValue)}`);
    } else if (e.keyword === 'pattern' && e.params.pattern === ID_PATTERN) {
      push(fieldPath(path, prefix), ID_PROBLEM);
    } else {
      push(fieldPath(path, prefix), e.message);
    }
  }
  return out;
}

/**
 * The shape of one TypeBox/Ajv validation error, and how its JSON-pointer location reads to a person:
 * `/pipes/pipe-a/views/0` → `pipes.pipe-a.views[0]` (a prefix such as `body` is prepended when given).
 * Shared by the gateway's config and request validation and the controller's resource validation.
 */
export interface SchemaError { keyword: string; instancePath: string; params: Record<string, unknown>; message: string }

export function fieldPath(instancePath: string, prefix = ''): string {
  let out = prefix;
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out === '' ? '(document)' : out;
}

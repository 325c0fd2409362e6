/**
 * The fields a consumer declares it reads, as a shape: `true` keeps a value whole, an object
 * keeps those fields of an object, a one-element array applies its shape to every element
 * of a list. An informer's cache built with it holds only those fields (no managedFields,
 * no status a consumer does not read), and every value it holds has the declared layout.
 */
export type Shape = true | { readonly [field: string]: Shape } | readonly [Shape];

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function project(value: unknown, shape: Shape): unknown {
  if (shape === true || value === undefined || value === null) return value;
  if (Array.isArray(shape)) {
    const element = shape[0] as Shape;
    return Array.isArray(value) ? value.map((item) => project(item, element)) : undefined;
  }
  if (!isObj(value)) return undefined;
  const out: Obj = {};
  for (const [field, inner] of Object.entries(shape as Record<string, Shape>)) {
    if (value[field] !== undefined) out[field] = project(value[field], inner);
  }
  return out;
}

/** The metadata every cache keeps. */
export const METADATA_SHAPE = {
  name: true,
  namespace: true,
  uid: true,
  resourceVersion: true,
  creationTimestamp: true,
  deletionTimestamp: true,
  labels: true,
  annotations: true,
} as const satisfies Shape;

/**
 * Kubernetes label selectors in their string form (`a=b,c!=d,e in (f,g),!h,i`), parsed once
 * and matched against Pod labels. The same string is sent to the API server by the kube
 * source, so both sides agree on which Pods are routable.
 */

export type Requirement =
  | { readonly key: string; readonly op: 'in'; readonly values: readonly string[] }
  | { readonly key: string; readonly op: 'notin'; readonly values: readonly string[] }
  | { readonly key: string; readonly op: 'exists' }
  | { readonly key: string; readonly op: 'doesnotexist' };

export type LabelSelector = readonly Requirement[];

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function splitTopLevel(input: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of input) {
    if (char === '(') depth++;
    if (char === ')') depth--;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts;
}

function checkKey(key: string): string {
  if (!KEY.test(key) || key.length > 316) throw new Error(`invalid label key "${key}"`);
  return key;
}

function checkValue(value: string): string {
  if (!VALUE.test(value) || value.length > 63) throw new Error(`invalid label value "${value}"`);
  return value;
}

/** Throws an `Error` describing the first invalid term. An empty string selects everything. */
export function parseLabelSelector(input: string): LabelSelector {
  const requirements: Requirement[] = [];
  if (input.trim() === '') return requirements;
  for (const rawTerm of splitTopLevel(input)) {
    const term = rawTerm.trim();
    if (term === '') throw new Error('empty term');
    const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
    if (set) {
      const values = (set[3] ?? '').split(',').map((value) => checkValue(value.trim()));
      requirements.push({ key: checkKey(set[1] ?? ''), op: set[2] as 'in' | 'notin', values });
      continue;
    }
    const inequality = /^([^!=\s]+)\s*!=\s*(\S*)$/.exec(term);
    if (inequality) {
      const value = checkValue(inequality[2] ?? '');
      requirements.push({ key: checkKey(inequality[1] ?? ''), op: 'notin', values: [value] });
      continue;
    }
    const equality = /^([^!=\s]+)\s*==?\s*(\S*)$/.exec(term);
    if (equality) {
      const value = checkValue(equality[2] ?? '');
      requirements.push({ key: checkKey(equality[1] ?? ''), op: 'in', values: [value] });
      continue;
    }
    if (term.startsWith('!')) {
      requirements.push({ key: checkKey(term.slice(1).trim()), op: 'doesnotexist' });
      continue;
    }
    requirements.push({ key: checkKey(term), op: 'exists' });
  }
  return requirements;
}

export function matchesSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const requirement of selector) {
    const has = Object.hasOwn(labels, requirement.key);
    const value = labels[requirement.key];
    switch (requirement.op) {
      case 'exists':
        if (!has) return false;
        break;
      case 'doesnotexist':
        if (has) return false;
        break;
      case 'in':
        if (!has || !requirement.values.includes(value as string)) return false;
        break;
      case 'notin':
        if (has && requirement.values.includes(value as string)) return false;
        break;
    }
  }
  return true;
}

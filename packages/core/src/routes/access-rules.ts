import type { BlockList } from 'node:net';
import type { Rejection } from '../annotations/parse.ts';
import { inBlocks, parseCidrs } from '../guards/client-address.ts';
import type { PodInfo } from '../pods/types.ts';

/**
 * Who may call a route, from the allow/deny annotations of the Pods that claim it
 * (`publicAllowFrom` / `publicDenyFrom`: space-delimited IPs and CIDRs, like nginx's
 * `allow`/`deny` or an ingress's whitelist-source-range), checked against the client address
 * (the TCP peer, or what TRUSTED_PROXIES say). When several Pods of a route carry lists, a
 * client must be in no deny list and in every allow list. A list with an entry that is not an
 * IP or CIDR closes the Pod's routes (403 to everyone) and is reported: dropping a bad deny
 * entry would open the route wider than its owner asked.
 */
export interface AccessAnnotations {
  readonly allowFrom: string;
  readonly denyFrom: string;
}

/** One Pod's lists, read once per Pod version. */
export interface PodAccess {
  readonly allow: BlockList | undefined;
  readonly deny: BlockList | undefined;
  readonly malformed: boolean;
}

export interface AccessRules {
  readonly allow: readonly BlockList[];
  readonly deny: readonly BlockList[];
  /** A list was malformed: nobody gets through until it is fixed. */
  readonly closed: boolean;
}

/** A Pod's lists (undefined when it sets none), and the rejections of malformed ones. */
export function readAccess(
  pod: PodInfo,
  names: AccessAnnotations,
): { readonly access: PodAccess | undefined; readonly rejections: readonly Rejection[] } {
  const rejections: Rejection[] = [];
  let malformed = false;
  const parse = (annotation: string): BlockList | undefined => {
    const value = pod.annotations[annotation];
    if (value === undefined || value.trim() === '') return undefined;
    try {
      return parseCidrs(value.split(/\s+/).filter((entry) => entry !== ''));
    } catch (error) {
      malformed = true;
      rejections.push({
        annotation,
        entry: value,
        reason: `${(error as Error).message}; the Pod's routes answer 403 to everyone until it is fixed`,
      });
      return undefined;
    }
  };
  const allow = parse(names.allowFrom);
  const deny = parse(names.denyFrom);
  return {
    access: allow || deny || malformed ? { allow, deny, malformed } : undefined,
    rejections,
  };
}

/** The rules of a route from its Pods' lists, or null when none sets any. */
export function combineAccess(lists: readonly (PodAccess | undefined)[]): AccessRules | null {
  const allow: BlockList[] = [];
  const deny: BlockList[] = [];
  let closed = false;
  for (const access of lists) {
    if (access === undefined) continue;
    if (access.allow) allow.push(access.allow);
    if (access.deny) deny.push(access.deny);
    closed ||= access.malformed;
  }
  return allow.length === 0 && deny.length === 0 && !closed ? null : { allow, deny, closed };
}

export function permits(rules: AccessRules, clientAddress: string): boolean {
  if (rules.closed) return false;
  for (const list of rules.deny) if (inBlocks(list, clientAddress)) return false;
  for (const list of rules.allow) if (!inBlocks(list, clientAddress)) return false;
  return true;
}

import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/**
 * Who the client is. The TCP peer, unless the peer is a trusted proxy (in TRUSTED_PROXIES,
 * or any peer with TRUST_FORWARDED_HEADERS): then the right-most X-Forwarded-For address
 * that is not itself a trusted proxy, as nginx's `real_ip_recursive` and Envoy's
 * `xff_num_trusted_hops` read it. Addresses a client wrote further left are never believed.
 */

export interface ClientAddress {
  readonly address: string;
  /** The peer may set X-Forwarded-* (they are extended, not replaced). */
  readonly peerTrusted: boolean;
}

const plain = (ip: string) =>
  ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;

/** Parses `10.0.0.0/8, 192.168.1.1, fd00::/8`; throws with the bad entry named. */
export function parseCidrs(list: readonly string[]): BlockList {
  const blocks = new BlockList();
  for (const entry of list) {
    const [ip = '', prefix] = entry.split('/');
    const family = isIP(ip);
    if (family === 0) throw new Error(`"${entry}" is not an IP address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) {
      blocks.addAddress(ip, type);
      continue;
    }
    const bits = /^[0-9]{1,3}$/.test(prefix) ? Number(prefix) : -1;
    if (bits < 0 || bits > (family === 4 ? 32 : 128))
      throw new Error(`"${entry}" has no valid prefix length`);
    blocks.addSubnet(ip, bits, type);
  }
  return blocks;
}

export const inBlocks = (blocks: BlockList, ip: string): boolean => {
  const address = plain(ip);
  const family = isIP(address);
  return family !== 0 && blocks.check(address, family === 4 ? 'ipv4' : 'ipv6');
};

export class ClientAddressResolver {
  readonly #trustAll: boolean;
  readonly #proxies: BlockList | undefined;

  constructor(options: { trustAll: boolean; trustedProxies: readonly string[] }) {
    this.#trustAll = options.trustAll;
    this.#proxies =
      options.trustedProxies.length > 0 ? parseCidrs(options.trustedProxies) : undefined;
  }

  resolve(req: IncomingMessage): ClientAddress {
    const peer = plain(req.socket.remoteAddress ?? '');
    const proxies = this.#proxies;
    const peerTrusted = this.#trustAll || (proxies !== undefined && inBlocks(proxies, peer));
    if (!peerTrusted) return { address: peer, peerTrusted };
    const forwarded = req.headers['x-forwarded-for'];
    if (!forwarded) return { address: peer, peerTrusted };
    const hops = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded).split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plain((hops[i] as string).trim());
      if (isIP(hop) === 0) return { address: peer, peerTrusted };
      if (i === 0 || proxies === undefined || !inBlocks(proxies, hop))
        return { address: hop, peerTrusted };
    }
    return { address: peer, peerTrusted };
  }
}

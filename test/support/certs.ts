import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Certificates made by the openssl CLI at test time: a CA, and leaves it issues with chosen
 * names, key types and validity dates (`openssl ca` takes explicit start and end dates, so
 * expired and not-yet-valid certificates need no clock tricks).
 */

export interface Pem {
  readonly cert: string;
  readonly key: string;
}

export interface LeafOptions {
  /** subjectAltName entries: DNS names, or IPs (`IP:10.0.0.1`). */
  readonly names: readonly string[];
  readonly cn?: string;
  /** `ec` (P-256, default), `rsa2048`, `rsa1024` (too weak), `ec-p224` (curve refused). */
  readonly keyType?: 'ec' | 'rsa2048' | 'rsa1024' | 'ec-p224';
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Without any subjectAltName (CN only). */
  readonly noSan?: boolean;
}

const DAY = 86_400_000;

function asn1Time(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

function keyArgs(type: LeafOptions['keyType']): string[] {
  switch (type) {
    case 'rsa2048':
      return ['-newkey', 'rsa:2048'];
    case 'rsa1024':
      return ['-newkey', 'rsa:1024'];
    case 'ec-p224':
      return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-224'];
    default:
      return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  }
}

export class TestCa {
  readonly dir: string;
  readonly cert: string;
  #serial = 1;

  constructor(name = 'podrouter test CA') {
    this.dir = mkdtempSync(join(tmpdir(), 'podrouter-ca-'));
    writeFileSync(join(this.dir, 'index.txt'), '');
    writeFileSync(join(this.dir, 'serial'), '1000\n');
    writeFileSync(
      join(this.dir, 'ca.cnf'),
      [
        '[ca]',
        'default_ca = test',
        '[test]',
        `dir = ${this.dir}`,
        'database = $dir/index.txt',
        'serial = $dir/serial',
        'new_certs_dir = $dir',
        'default_md = sha256',
        'policy = any',
        'unique_subject = no',
        'copy_extensions = none',
        '[any]',
        'commonName = supplied',
      ].join('\n'),
    );
    this.#openssl([
      'req',
      '-x509',
      ...keyArgs('ec'),
      '-nodes',
      '-keyout',
      join(this.dir, 'ca.key'),
      '-out',
      join(this.dir, 'ca.crt'),
      '-subj',
      `/CN=${name}`,
      '-days',
      '3',
    ]);
    this.cert = readFileSync(join(this.dir, 'ca.crt'), 'utf8');
  }

  #openssl(args: string[]): void {
    try {
      execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '');
      throw new Error(`openssl ${args[0]} failed: ${stderr}`);
    }
  }

  issue(options: LeafOptions): Pem {
    const id = this.#serial++;
    const base = join(this.dir, `leaf-${id}`);
    const cn = options.cn ?? options.names[0] ?? `leaf-${id}`;
    this.#openssl([
      'req',
      ...keyArgs(options.keyType),
      '-nodes',
      '-keyout',
      `${base}.key`,
      '-out',
      `${base}.csr`,
      '-subj',
      `/CN=${cn}`,
    ]);
    const san = options.names
      .map((name) => (name.startsWith('IP:') ? name : `DNS:${name}`))
      .join(',');
    writeFileSync(
      `${base}.ext`,
      [
        'basicConstraints = CA:FALSE',
        'keyUsage = digitalSignature, keyEncipherment',
        'extendedKeyUsage = serverAuth',
        ...(options.noSan || san === '' ? [] : [`subjectAltName = ${san}`]),
      ].join('\n'),
    );
    const now = Date.now();
    this.#openssl([
      'ca',
      '-batch',
      '-config',
      join(this.dir, 'ca.cnf'),
      '-cert',
      join(this.dir, 'ca.crt'),
      '-keyfile',
      join(this.dir, 'ca.key'),
      '-in',
      `${base}.csr`,
      '-out',
      `${base}.crt`,
      '-extfile',
      `${base}.ext`,
      '-notext',
      '-startdate',
      asn1Time(options.notBefore ?? new Date(now - DAY)),
      '-enddate',
      asn1Time(options.notAfter ?? new Date(now + 2 * DAY)),
    ]);
    return {
      cert: readFileSync(`${base}.crt`, 'utf8'),
      key: readFileSync(`${base}.key`, 'utf8'),
    };
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A `kubernetes.io/tls` Secret object as `kubectl get secret -o yaml` prints it. */
export function tlsSecret(namespace: string, name: string, pem: Pem): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name, namespace },
    data: {
      'tls.crt': Buffer.from(pem.cert).toString('base64'),
      'tls.key': Buffer.from(pem.key).toString('base64'),
    },
  };
}

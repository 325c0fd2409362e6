/**
 * nginx configurations: the upstream every proxy benchmark uses (`return 200` with a fixed
 * body: the cheapest correct HTTP/1.1 server at hand, never what limits a proxy in front of
 * it) and nginx as the reverse proxy the others are compared with.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** 128 bytes of body: small, so the figures measure per-request cost, not copying. */
export const BODY = `${'podrouter benchmark upstream '.repeat(5).slice(0, 127)}\n`;

const common = (dir: string, name: string, workers: number) => `
worker_processes ${workers};
daemon off;
master_process on;
user root;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}-error.log warn;
events { worker_connections 8192; }
`;

const temp = (dir: string, name: string) => `
  client_body_temp_path ${dir}/${name}-body;
  proxy_temp_path ${dir}/${name}-proxy;
  fastcgi_temp_path ${dir}/${name}-fastcgi;
  uwsgi_temp_path ${dir}/${name}-uwsgi;
  scgi_temp_path ${dir}/${name}-scgi;
  access_log off;
  keepalive_timeout 75s;
  # nginx closes a client connection after 1000 requests by default; podrouter does not.
  keepalive_requests 10000000;
`;

/** The upstream: one worker answering `return 200` with `BODY` on `address:port`. */
export function upstreamConfig(dir: string, address: string, port: number): string {
  return `${common(dir, 'upstream', 1)}
http {${temp(dir, 'upstream')}
  server {
    listen ${address}:${port} backlog=4096;
    location / {
      default_type text/plain;
      return 200 "${BODY.replace(/\n$/, '\\n')}";
    }
  }
}
`;
}

export interface ProxyConfig {
  readonly name: string;
  readonly workers: number;
  readonly port: number;
  readonly host: string;
  readonly upstream: string;
}

/**
 * nginx as a reverse proxy doing what podrouter does per request: Host kept,
 * `X-Forwarded-For/-Proto/-Host` set, a host-matched server, upstream keep-alive.
 */
export function proxyConfig(dir: string, c: ProxyConfig): string {
  return `${common(dir, c.name, c.workers)}
http {${temp(dir, c.name)}
  upstream pod {
    server ${c.upstream};
    keepalive 128;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${c.port} backlog=4096 default_server;
    return 404;
  }
  server {
    listen 127.0.0.1:${c.port};
    server_name ${c.host};
    location / {
      proxy_pass http://pod;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
    }
  }
}
`;
}

/** Writes `config` as `DIR/NAME.conf`; returns nginx's arguments to run it in the foreground. */
export function nginxArgs(dir: string, name: string, config: string): string[] {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, config);
  return ['nginx', '-p', dir, '-c', file, '-e', join(dir, `${name}-error.log`)];
}

// HTTPS_PROXY, HTTP_PROXY and NO_PROXY (either case, as curl, Go and the AWS CLI read them) for
// docker:// sources and S3: the agent a request to a URL goes through. proxy-from-env decides
// (NO_PROXY suffixes, ports, `*`); http-proxy-agent forwards plain http, https-proxy-agent tunnels
// https with CONNECT.
import * as http from 'node:http';
import * as https from 'node:https';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { getProxyForUrl } from 'proxy-from-env';

export interface AgentOptions {
  keepAlive: boolean;
  maxSockets: number;
  /** https targets: false accepts any certificate. */
  rejectUnauthorized?: boolean;
}

/** The proxy a request to `url` goes through, or undefined (none set, or NO_PROXY names the host). */
export function proxyFor(url: string | URL): string | undefined {
  return getProxyForUrl(String(url)) || undefined;
}

/**
 * What to say when a proxy answers 407: which variable named it (never its credentials) and how to
 * give them.
 */
export function proxyAuthHint(url: string | URL): string {
  const target = String(url);
  const variable = target.startsWith('https:') ? 'HTTPS_PROXY' : 'HTTP_PROXY';
  const has = proxyFor(target) ? new URL(proxyFor(target)!).username !== '' : false;
  return has
    ? `the proxy refused the credentials in ${variable}: check the user and password in its URL (percent-encoded)`
    : `the proxy in ${variable} asks for credentials: give them in its URL (http://user:password@host:port, percent-encoded)`;
}

/** Agents by target protocol and proxy, made when first needed; one pool per proxy. */
export class Agents {
  private readonly made = new Map<string, http.Agent>();

  constructor(private readonly opts: AgentOptions) {}

  for(url: string | URL): http.Agent {
    const target = String(url);
    const secure = target.startsWith('https:');
    const proxy = proxyFor(target);
    const key = `${secure ? 'https' : 'http'} ${proxy ?? ''}`;
    let a = this.made.get(key);
    if (!a) {
      const { keepAlive, maxSockets, rejectUnauthorized } = this.opts;
      if (!proxy) a = secure ? new https.Agent({ keepAlive, maxSockets, rejectUnauthorized }) : new http.Agent({ keepAlive, maxSockets });
      else a = secure ? new HttpsProxyAgent(proxy, { keepAlive, maxSockets, rejectUnauthorized }) : new HttpProxyAgent(proxy, { keepAlive, maxSockets });
      this.made.set(key, a);
    }
    return a;
  }

  destroy(): void {
    for (const a of this.made.values()) a.destroy();
  }
}

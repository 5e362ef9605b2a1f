// A live registry as the destination of a push or a sync entry: `docker://<host>/<repo>[:<tag>]`
// (every image into that repository), `docker://<host>` (each image to the repo:tag it is named
// by, as an air-gap bundle names them) or `docker://<host>/<prefix>/` (the same below a prefix).
import { InvalidReferenceError } from '../errors.js';
import { parseRepoName, type StoreRef } from './reference.js';
import { HOST_RE, parseDockerRef } from './registry-client.js';
import { DockerSink, type DockerSinkOptions } from './registry-sink.js';
import type { PushTarget } from './transfer.js';

export interface RegistryDest {
  host: string;
  /** The one repository every image goes to (with `tag`, the one tag). */
  repo?: string;
  tag?: string;
  /** Each image goes to `<prefix>/<its repo>:<its tag>`. */
  prefix?: string;
}

const GRAMMAR = 'docker://<host>[:<port>]/<repo>[:<tag>], docker://<host>[:<port>] or docker://<host>[:<port>]/<prefix>/';

export function parseRegistryDest(s: string): RegistryDest {
  const rest = s.slice('docker://'.length);
  const slash = rest.indexOf('/');
  if (slash < 0 || slash === rest.length - 1) {
    const host = slash < 0 ? rest : rest.slice(0, slash);
    // A bare word would be a docker.io repository as a source; as a destination it must be a host.
    if (!HOST_RE.test(host) || (!host.includes('.') && !host.includes(':') && host !== 'localhost')) {
      throw new InvalidReferenceError(`${JSON.stringify(s)}: no registry host (host[:port], with a dot or a port, or localhost): write ${GRAMMAR}`);
    }
    return { host };
  }
  if (rest.endsWith('/')) {
    const prefix = rest.slice(slash + 1, -1);
    try {
      parseRepoName(prefix);
    } catch {
      throw new InvalidReferenceError(`${JSON.stringify(s)}: ${JSON.stringify(prefix)} is not a repository prefix: write ${GRAMMAR}`);
    }
    return { host: parseRegistryDest(`docker://${rest.slice(0, slash)}`).host, prefix };
  }
  const ref = parseDockerRef(s);
  if (ref.digest) throw new InvalidReferenceError(`${JSON.stringify(s)}: a destination is named by tag, not by digest: write ${GRAMMAR}`);
  return { host: ref.host, repo: ref.repo, tag: ref.tag };
}

/** The repositories of one registry, one sink each (they share the registry's HTTP client). */
export class RegistryTarget implements PushTarget {
  private readonly sinks = new Map<string, DockerSink>();
  /** A repository of the registry that may hold the blobs already (the store's name of the image): mounted from. */
  mountFrom?: string;

  constructor(
    readonly dest: RegistryDest,
    private readonly opts: DockerSinkOptions,
  ) {}

  /** The destination as push and preparePush take it: the one repository (and tag), or none (each image's own name). */
  get storeRef(): StoreRef | undefined {
    return this.dest.repo ? { repo: this.dest.repo, tag: this.dest.tag } : undefined;
  }

  /** The repository in the registry an image named `repo` goes to. */
  repoOf(repo: string): string {
    return this.dest.prefix ? `${this.dest.prefix}/${repo}` : repo;
  }

  sink(repo: string): DockerSink {
    const full = this.repoOf(repo);
    let s = this.sinks.get(full);
    if (!s) {
      s = new DockerSink({ host: this.dest.host, repo: full }, this.opts);
      s.mountFrom = this.mountFrom;
      this.sinks.set(full, s);
    }
    return s;
  }

  name(repo: string, tag: string): string {
    return `docker://${this.dest.host}/${this.repoOf(repo)}:${tag}`;
  }

  get blobsMounted(): number {
    return [...this.sinks.values()].reduce((n, s) => n + s.blobsMounted, 0);
  }

  async close(): Promise<void> {
    for (const s of this.sinks.values()) await s.close();
    this.sinks.clear();
  }
}

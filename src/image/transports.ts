// One reference grammar for image locations outside the store (regclient's habit): a transport
// prefix, then what that transport needs. New formats register here.
import * as nodePath from 'node:path';
import { InvalidReferenceError } from '../errors.js';
import { OciLayoutSink, OciLayoutSource, type LayoutSinkOptions } from './oci-layout.js';
import { DockerSource, parseDockerRef, type DockerSourceOptions } from './registry-client.js';
import { OciArchiveSink, OciArchiveSource } from './oci-archive.js';
import { DockerArchiveSink, DockerArchiveSource } from './docker-archive.js';
import { DockerSink, type DockerSinkOptions } from './registry-sink.js';
import type { ImageSink, ImageSource } from './transfer.js';

export interface TransportRef {
  transport: string;
  /** File or directory path, resolved to absolute. */
  path: string;
  /** Optional image name inside (ref annotation, tag). */
  ref?: string;
}

// The image-spec grammar for org.opencontainers.image.ref.name.
const OCI_REF_RE = /^[A-Za-z0-9]+(?:(?:[-._:@/+]|--)[A-Za-z0-9]+)*$/;

export const SOURCE_TRANSPORTS = ['oci', 'docker', 'oci-archive', 'docker-archive'] as const;

/** `transport:path[:ref]`; the path may not contain ':' (as in skopeo). */
export function parseTransportRef(s: string, allowed: readonly string[]): TransportRef {
  const i = s.indexOf(':');
  const transport = i > 0 ? s.slice(0, i) : '';
  if (!allowed.includes(transport)) {
    throw new InvalidReferenceError(
      `unsupported image location ${JSON.stringify(s)}: use ${allowed.map((t) => (t === 'docker' ? 'docker://<host>/<repo>[:<tag>]' : `${t}:<path>[:<ref>]`)).join(' or ')}`,
    );
  }
  const rest = s.slice(i + 1);
  const j = rest.indexOf(':');
  const path = j >= 0 ? rest.slice(0, j) : rest;
  const ref = j >= 0 ? rest.slice(j + 1) : undefined;
  if (!path) throw new InvalidReferenceError(`${JSON.stringify(s)} names no path: use ${transport}:<path>[:<ref>]`);
  if (path.includes('\0')) throw new InvalidReferenceError(`path in ${JSON.stringify(s)} contains a NUL byte`);
  // docker-archive also picks an image by position, as skopeo does: docker-archive:<file>:@<index>.
  const byIndex = transport === 'docker-archive' && ref !== undefined && /^@\d{1,6}$/.test(ref);
  if (ref !== undefined && !byIndex && !OCI_REF_RE.test(ref)) {
    throw new InvalidReferenceError(`invalid image name ${JSON.stringify(ref)} in ${JSON.stringify(s)}: use letters and digits separated by - . _ : @ / +`);
  }
  return { transport, path: nodePath.resolve(path), ref };
}

/** What sources that talk to a server need (docker://): credentials, TLS, retries. */
export type SourceOptions = DockerSourceOptions;

export function openSource(s: string, opts: SourceOptions = {}): ImageSource {
  // docker://host/repo:tag is not transport:path[:ref]: it has its own grammar.
  if (s.startsWith('docker://')) return new DockerSource(parseDockerRef(s), opts);
  const r = parseTransportRef(s, SOURCE_TRANSPORTS);
  switch (r.transport) {
    case 'oci':
      return new OciLayoutSource(r.path, r.ref);
    case 'docker':
      throw new InvalidReferenceError(`${JSON.stringify(s)}: a registry source is written docker://<host>[:<port>]/<repo>[:<tag>|@<digest>]`);
    case 'oci-archive':
      return new OciArchiveSource(r.path, r.ref);
    case 'docker-archive':
      return new DockerArchiveSource(r.path, r.ref);
    default:
      throw new InvalidReferenceError(`unsupported source ${JSON.stringify(s)}`);
  }
}

export const SINK_TRANSPORTS = ['oci', 'oci-archive', 'docker-archive', 'docker'] as const;

/** What sinks need: a layout's --repair; a registry's credentials, TLS, retries (docker://). */
export type SinkOptions = LayoutSinkOptions & DockerSinkOptions;

export function openSink(s: string, opts: SinkOptions = {}): { sink: ImageSink; ref?: string } {
  if (s.startsWith('docker://')) {
    const ref = parseDockerRef(s);
    return { sink: new DockerSink(ref, opts), ref: ref.tag };
  }
  const r = parseTransportRef(s, SINK_TRANSPORTS);
  switch (r.transport) {
    case 'oci':
      return { sink: new OciLayoutSink(r.path, opts), ref: r.ref };
    case 'oci-archive':
      return { sink: new OciArchiveSink(r.path), ref: r.ref };
    case 'docker-archive':
      return { sink: new DockerArchiveSink(r.path), ref: r.ref };
    case 'docker':
      throw new InvalidReferenceError(`${JSON.stringify(s)}: a registry destination is written docker://<host>[:<port>]/<repo>[:<tag>]`);
    default:
      throw new InvalidReferenceError(`unsupported destination ${JSON.stringify(s)}`);
  }
}

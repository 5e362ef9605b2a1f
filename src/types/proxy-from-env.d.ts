// proxy-from-env ships no types.
declare module 'proxy-from-env' {
  /** The proxy URL for `url` from HTTPS_PROXY/HTTP_PROXY/ALL_PROXY (either case), '' when none or NO_PROXY matches. */
  export function getProxyForUrl(url: string | URL): string;
}

// Orders by code unit (not locale): the order the registry's listings and regbucket's output use.

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function byName<T extends { name: string }>(a: T, b: T): number {
  return compareStrings(a.name, b.name);
}

export function byPath<T extends { path: string }>(a: T, b: T): number {
  return compareStrings(a.path, b.path);
}

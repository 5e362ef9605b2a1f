// `npm run depcheck`: the layers of docs/architecture.md, as import rules over src/.
//
//   cli -> commands -> core (store, gc, verify, retention, usage, cache) -> drivers, image -> util
//
// An import may only run down the layers (or sideways where said). errors.ts (the typed errors)
// sits with util: everything may import it and it imports nothing of ours.
// test/depcheck.test.ts plants a back-edge and checks that this configuration fails on it.
const CORE = '^src/(store|gc|verify|retention|usage|cache)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle ties modules together so neither can be read, tested or moved alone.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'util-is-a-leaf',
      severity: 'error',
      comment: 'util/ and errors.ts are generic: they import nothing of ours but each other.',
      from: { path: '^src/(util/|errors\\.ts$)' },
      to: { path: '^src/', pathNot: '^src/(util/|errors\\.ts$)' },
    },
    {
      name: 'drivers-below-the-core',
      severity: 'error',
      comment: 'A driver knows storage, not the layout or the commands: only util/ and errors.ts are below it.',
      from: { path: '^src/drivers/' },
      to: { path: '^src/', pathNot: '^src/(drivers/|util/|errors\\.ts$)' },
    },
    {
      name: 'image-has-no-storage',
      severity: 'error',
      comment: 'image/ is formats and transports, no storage: it never imports the store, a driver or anything above.',
      from: { path: '^src/image/' },
      to: { path: '^src/', pathNot: '^src/(image/|util/|errors\\.ts$)' },
    },
    {
      name: 'store-below-the-algorithms',
      severity: 'error',
      comment: 'store/ is the layout core that gc, verify, retention, usage and cache run over; it never imports them.',
      from: { path: '^src/store/' },
      to: { path: '^src/(gc|verify|retention|usage|cache)/' },
    },
    {
      name: 'core-below-commands',
      severity: 'error',
      comment: 'The core returns data; commands and the CLI render it. The core never imports them.',
      from: { path: CORE },
      to: { path: '^src/(commands|cli)/' },
    },
    {
      name: 'commands-below-cli',
      severity: 'error',
      comment:
        'The CLI wires commands, not the other way round. A command takes the Context the CLI hands it ' +
        '(cli/context.ts) and renders through its Output (cli/output.ts) as its output flags say (cli/format.ts): those three are the whole of what it may use.',
      from: { path: '^src/commands/' },
      to: { path: '^src/cli/', pathNot: '^src/cli/(context|output|format)\\.ts$' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};

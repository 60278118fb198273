// Build-time assets. The esbuild plugin in scripts/esbuild-plugins.mjs embeds both kinds into
// every bundle, so the SDK never reads its own wasm or shaders from a path.

/** WGSL source text of a kernel file. */
declare module "*.wgsl" {
  const source: string;
  export default source;
}

/** Compiled AssemblyScript module bytes: `kvcompress:wasm/control` or `kvcompress:wasm/cpu`.
 *  Tests get the debug build (assertions on); dist bundles get the release build. */
declare module "kvcompress:wasm/*" {
  const bytes: Uint8Array;
  export default bytes;
}

/** A repository file's text (tests only): `kvcompress:source/assembly/layout.ts`. */
declare module "kvcompress:source/*" {
  const text: string;
  export default text;
}

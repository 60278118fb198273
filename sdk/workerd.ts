// workerd / Cloudflare Workers entry point: the same API as sdk/index.ts. Its bundle imports
// control.wasm and cpu.wasm as modules (scripts/build.mjs), because Workers refuse to compile
// wasm from bytes at run time; the wasm loaders accept the precompiled WebAssembly.Module.
export * from "./index";

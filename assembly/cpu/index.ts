// Entry of build/wasm/cpu.{debug,release}.wasm: the whole control plane (assembly/index.ts)
// plus the CPU backend's SIMD kernels (issue 6), so the block tables the control plane owns
// and the KV pool share one linear memory and the kernels read the tables in place.
// Order rule (assembly/cpu/pool.ts): call init() before cpuPoolInit().
export * from "../index";
export * from "./exports";

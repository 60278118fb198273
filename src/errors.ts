// Named errors of kvcompress. Misuse at an API boundary throws one of these, with the field,
// the value and the bound in the message; capacity shortfalls inside the engine are return
// values, not exceptions (STYLE L5).

/** Base class of every error kvcompress throws on purpose. */
export class KvCompressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A config field is missing, of the wrong type or out of bounds. */
export class ConfigError extends KvCompressError {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

/** An argument of an API call is out of bounds (a bad seqId, layer, length…). */
export class InvalidArgumentError extends KvCompressError {
  constructor(readonly field: string, readonly value: unknown, readonly bound: string) {
    super(`${field}: ${bound}, got ${String(value)}`);
  }
}

/** The caller asked for something the pool can never hold (a prompt larger than the pool). */
export class KvPoolExhaustedError extends KvCompressError {
  constructor(message: string, readonly blocksNeeded = 0, readonly blocksFree = 0) {
    super(message);
  }
}

/** No WebGPU adapter could be found; the message says what to install. */
export class NoGpuAdapterError extends KvCompressError {}

/** An adapter limit is below what the config needs (STYLE L11). */
export class LimitTooLowError extends KvCompressError {
  constructor(readonly limit: string, readonly needed: number, readonly available: number) {
    super(`${limit}: need ${needed}, the adapter offers ${available}`);
  }
}

/** A WGSL kernel failed to compile or its pipeline failed to build. */
export class ShaderCompileError extends KvCompressError {
  constructor(readonly kernelFile: string, detail: string) {
    super(`${kernelFile}: ${detail}`);
  }
}

/** The GPU device was lost; every later call on the cache throws this. */
export class DeviceLostError extends KvCompressError {
  constructor(readonly reason: string, detail: string) {
    super(`GPU device lost (${reason}): ${detail}`);
  }
}

/** The CPU backend's linear memory cannot grow to the size asked for. */
export class WasmMemoryLimitError extends KvCompressError {
  constructor(readonly bytesNeeded: number, readonly bytesLimit: number) {
    super(`wasm linear memory: need ${bytesNeeded} bytes, the limit is ${bytesLimit} bytes`);
  }
}

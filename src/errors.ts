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

// ---- model loading (src/model/). Every message names the file, and the tensor where one is
// involved, so a user with a broken download knows what to re-fetch. A loader never returns a
// model built from bytes it could not validate.

/** A model file is corrupt, truncated or not in the expected format. */
export class ModelFormatError extends KvCompressError {
  /** File as the source names it, e.g. `models/x/model-00001-of-00002.safetensors`. */
  readonly fileName: string;
  /** Tensor involved, when the problem is in one tensor. */
  readonly tensorName: string | undefined;

  constructor(fileName: string, detail: string, tensorName?: string) {
    super(`${tensorName === undefined ? fileName : `${fileName}, tensor "${tensorName}"`}: ${detail}`);
    this.fileName = fileName;
    this.tensorName = tensorName;
  }
}

/** A tensor exists but its shape is not the one the config implies. */
export class TensorShapeError extends ModelFormatError {
  constructor(fileName: string, tensorName: string, readonly expectedShape: readonly number[], readonly actualShape: readonly number[]) {
    super(fileName, `shape [${actualShape.join(", ")}], expected [${expectedShape.join(", ")}]`, tensorName);
  }
}

/** A tensor the architecture needs is in no weight file. */
export class MissingTensorError extends ModelFormatError {
  constructor(fileName: string, tensorName: string) {
    super(fileName, "tensor not found", tensorName);
  }
}

/** The model config asks for something the model code (src/model/) does not implement (an unknown model_type…). */
export class UnsupportedModelError extends KvCompressError {
  constructor(readonly fileName: string, readonly field: string, detail: string) {
    super(`${fileName}: ${field} ${detail}`);
  }
}

/** A model file could not be read at all (missing path, HTTP error, file not passed in). */
export class ModelSourceError extends KvCompressError {
  /** `notFound`: the file does not exist (ENOENT, HTTP 404, not in the map passed in). */
  constructor(readonly fileName: string, detail: string, readonly notFound: boolean) {
    super(`${fileName}: ${detail}`);
  }
}

/** A broken invariant inside kvcompress itself (a bug, not a misuse): please report it. */
export class InternalError extends KvCompressError {}

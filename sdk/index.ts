// The public API of kvcompress: explicit named exports only (STYLE L9). src/ never imports sdk/.
export { requestGpuDevice } from "./device";
export type { GpuDeviceHandle, RequestGpuDeviceOptions } from "./device";
export {
  KvCompressError,
  ConfigError,
  InvalidArgumentError,
  KvPoolExhaustedError,
  NoGpuAdapterError,
  LimitTooLowError,
  ShaderCompileError,
  DeviceLostError,
  WasmMemoryLimitError,
} from "../src/errors";

// Builds and rewrites safetensors files in memory, so tests can derive corrupt, resharded or
// re-typed variants from the real tinystories-656K bytes.

export interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;

export function splitSafetensors(bytes: Uint8Array): { header: Header; tensors: RawTensor[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerBytes))) as Header;
  const tensors: RawTensor[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [begin, end] } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    tensors.push({ name, dtype, shape, data: bytes.slice(8 + headerBytes + begin, 8 + headerBytes + end) });
  }
  return { header, tensors };
}

export function buildSafetensors(tensors: readonly RawTensor[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offsetBytes = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offsetBytes, offsetBytes + t.data.byteLength] };
    offsetBytes += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // keep data 8-byte aligned, as writers do
  const headerUtf8 = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerUtf8.byteLength + offsetBytes);
  new DataView(out.buffer).setUint32(0, headerUtf8.byteLength, true);
  out.set(headerUtf8, 8);
  let at = 8 + headerUtf8.byteLength;
  for (const t of tensors) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

/** F32 bytes → BF16 bytes by dropping the low 16 bits (exact for bf16-representable values). */
export function f32ToBf16(data: Uint8Array): Uint8Array {
  const src = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength / 2);
  const dst = new DataView(out.buffer);
  for (let i = 0; i < out.byteLength / 2; i++) dst.setUint16(i * 2, src.getUint32(i * 4, true) >>> 16, true);
  return out;
}

export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

export function editJson(bytes: Uint8Array, edit: (value: Record<string, unknown>) => void): Uint8Array {
  const value = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  edit(value);
  return jsonBytes(value);
}

// common/sample_rows.wgsl — sample_top_p.wgsl's sampling settings per row (a batched decode
// step, one row per sequence): row r reads rowParams[r] = (temperatureBits, topPBits, rBits, _)
// into `step` (the temperature the kernel reads per element) and row_top_p_bits / row_r_bits. A row at temperature 0 is left untouched (the
// caller's argmax owns it). Binding 2 rowParams (read); no Step uniform. The words pass through
// workgroup memory and workgroupUniformLoad so the kernel's branches on them stay uniform.
struct RowSample { temperatureBits: u32, topPBits: u32, rBits: u32, _pad0: u32 }
@group(0) @binding(2) var<storage, read> rowParams: array<RowSample>;
var<private> step: RowSample;
var<workgroup> rowT: u32;
var<workgroup> rowP: u32;
var<workgroup> rowR: u32;
fn row_setup(row: u32) -> bool {
  // Every thread stores the same words; the uniform loads return them to all.
  let p = rowParams[row];
  rowT = p.temperatureBits; rowP = p.topPBits; rowR = p.rBits;
  let t = workgroupUniformLoad(&rowT);
  step.temperatureBits = t;
  return bitcast<f32>(t) > 0.0;
}
fn row_top_p_bits() -> u32 { return workgroupUniformLoad(&rowP); }
fn row_r_bits() -> u32 { return workgroupUniformLoad(&rowR); }

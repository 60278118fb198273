// common/step.wgsl — the per-step uniform every step-dependent model kernel reads (binding 7).
// The host writes it once per step (src/gpu/model/index.ts writeStep; fields by name in
// src/contract.ts MODEL_STEP_FIELDS); each kernel's own sizes are in its `struct Args` (binding 6,
// written once when the dispatch is prepared). f32 values travel as their bits (u32 fields).
struct Step { numTokens: u32, startPos: u32, temperatureBits: u32, topPBits: u32, rBits: u32, _pad0: u32, _pad1: u32, _pad2: u32 }
@group(0) @binding(7) var<uniform> step: Step;

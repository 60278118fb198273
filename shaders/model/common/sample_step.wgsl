// common/sample_step.wgsl — sample_top_p.wgsl's sampling settings from the Step uniform (one
// setting for every row): row_setup has nothing to load; every row samples.
fn row_setup(row: u32) -> bool { return true; }
fn row_top_p_bits() -> u32 { return step.topPBits; }
fn row_r_bits() -> u32 { return step.rBits; }

//! Cross-crate benchmarks live in `benches/`.

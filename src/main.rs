//! bulwark CLI.
fn main() {}

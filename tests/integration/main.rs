//! Integration tests, one binary (faster builds).

mod cluster;
mod deploy;
mod fuzz;
mod modes;
mod mutate;
mod pss;
mod server;
mod tenant;

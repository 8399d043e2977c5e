//! Integration tests, one binary (faster builds).

mod cli;
mod cluster;
mod deploy;
mod fuzz;
mod merge_keys;
mod modes;
mod mutate;
mod network;
mod pss;
mod reload;
mod server;
mod tenant;

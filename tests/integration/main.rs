//! Integration tests, one binary (faster builds).

mod audit;
mod cli;
mod cluster;
mod deploy;
mod fuzz;
mod merge_keys;
mod modes;
mod mutate;
mod pss;
mod report_page;
mod server;
mod tenant;

//! Integration tests, one binary (faster builds).

mod apiserver;
mod audit;
mod cli;
mod cluster;
mod deploy;
mod fuzz;
mod live;
mod merge_keys;
mod modes;
mod mutate;
mod network;
mod pss;
mod reload;
mod report_page;
mod server;
mod tenant;

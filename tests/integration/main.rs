//! Integration tests, one binary (faster builds).

mod pss;

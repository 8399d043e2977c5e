//! The one clock: today's date in UTC, read by the adapters (server, offline check,
//! certificate making) and passed down, so the engine and mutation stay deterministic
//! under test.

/// Today's date in UTC.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

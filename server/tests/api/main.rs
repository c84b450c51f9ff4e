//! Integration tests: the real server on port 0, a fresh database per test (SQLite, or
//! PostgreSQL with `LOOKOUT_TEST_DATABASE=postgres`), spoken to over HTTP like a browser or
//! a script would.

mod admin;
mod agent;
mod audit_page;
mod audit_trail;
mod cli;
mod config_flags;
mod deploy;
mod fleet;
mod forward_auth;
mod groups;
mod helpers;
mod hostile;
mod ingest;
mod invites;
mod live;
mod observability;
mod pages;
mod redis;
mod session_page;
mod sessions;
mod sign_in;
mod tls;
mod two_factor;

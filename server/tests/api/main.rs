//! Integration tests: the real server on port 0, a fresh SQLite database per test, spoken
//! to over HTTP like a browser or a script would.

mod admin;
mod agent;
mod audit_page;
mod audit_trail;
mod cli;
mod config_flags;
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

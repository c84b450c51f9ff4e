//! Who may do what without a browser session: API tokens.

pub mod tokens;

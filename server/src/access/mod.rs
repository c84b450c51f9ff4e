//! Who may do what: groups and the hosts each reader may see, and API tokens.

pub mod groups;
pub mod tokens;

//! Signing in and out: the sign-in page, the sign-out button and the server functions
//! behind them. The account types live in [`crate::account`]; they are re-exported here,
//! where the server has always found them.

mod api;
mod login_page;

pub use crate::account::{
    safe_next, Password, PasswordError, Principal, Role, Username, UsernameError,
    PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS, USERNAME_MAX_CHARS,
};
pub use api::{login, logout, signed_in, Login, Logout, SignedIn};
pub use login_page::{LoginPage, SignOutButton};

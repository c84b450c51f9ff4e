//! Signing in and out: the sign-in page, the sign-out button and the server functions
//! behind them. The account types live in [`crate::account`]; they are re-exported here,
//! where the server has always found them.

mod api;
mod login_page;
mod verify_page;

pub use crate::account::{
    safe_next, Password, PasswordError, Principal, Role, Username, UsernameError,
    PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS, USERNAME_MAX_CHARS,
};
#[cfg(feature = "ssr")]
pub use api::go_on;
pub use api::{
    login, logout, pending_sign_in, signed_in, verify_code, Login, Logout, PendingSignIn, SignedIn,
    VerifyCode,
};
pub use login_page::{LoginPage, SignOutButton};
pub use verify_page::{RecoveryCodes, VerifyPage};

//! The frame of every signed-in page: the top bar (who is signed in, their role, the
//! connection badge, `Sign out`) and the server function that says who that is. The pages
//! themselves live in [`crate::overview`] (`/`) and [`crate::hosts`] (`/hosts/{name}`).

pub mod format;

// Re-exported where the server has always found it.
pub use crate::host::HostInfo;
pub use format::{format_bytes, format_duration};

use crate::{
    account::Principal,
    auth::SignOutButton,
    error::ApiError,
    live_client::{Connection, ConnectionBadge},
};
use leptos::prelude::*;
use leptos_router::components::Redirect;

/// The signed-in user of this request.
#[server(prefix = "/api/fn", endpoint = "whoami")]
pub async fn whoami() -> Result<Principal, ApiError> {
    use crate::{
        backend::{request_context, require_principal},
        error::respond_with,
    };

    let (_, parts) = request_context().map_err(|e| respond_with(&e))?;
    require_principal(&parts)
}

/// The top bar and the page under it. `connection` is the badge of a live page.
#[component]
pub fn Frame(
    user: Principal,
    #[prop(optional_no_strip)] connection: Option<RwSignal<Connection>>,
    #[prop(optional)] wide: bool,
    children: Children,
) -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <img src="/logo.svg" alt="" width="28" height="28"/>
                <span>"Lookout"</span>
            </a>
            <div class="who">
                {connection.map(|connection| view! { <ConnectionBadge connection/> })}
                <span class="user" data-testid="signed-in-user">{user.username.clone()}</span>
                <span class="role">{user.role.to_string()}</span>
                {if user.role == crate::account::Role::Admin {
                    view! {
                        <a class="sessions-link" href="/admin/users">"Admin"</a>
                        <a class="sessions-link" href="/settings/audit">"Audit"</a>
                    }
                    .into_any()
                } else {
                    view! { <a class="sessions-link" href="/admin/groups">"Groups"</a> }.into_any()
                }}
                <a class="sessions-link" href="/settings/sessions">"Sessions"</a>
                <SignOutButton/>
            </div>
        </header>
        <main class=if wide { "page wide" } else { "page" }>{children()}</main>
    }
}

/// What a signed-in page shows when its data did not come: the sign-in page for a
/// visitor without a session, the error otherwise.
pub fn failure_view(err: ApiError) -> AnyView {
    match err {
        ApiError::Unauthorized => view! { <Redirect path="/login"/> }.into_any(),
        err => view! {
            <main class="page">
                <p class="form-error" role="alert">{err.to_string()}</p>
            </main>
        }
        .into_any(),
    }
}

/// The placeholder while a page's data loads.
pub fn loading_view() -> impl IntoView {
    view! { <p class="loading">"Loading…"</p> }
}

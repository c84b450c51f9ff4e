//! `/settings/sessions`: where the signed-in user is signed in (an admin: anyone), when
//! and from what; end one of them, or every one but this. Ending a session closes its live
//! pages within a second, wherever they are.

use crate::account::SessionsView;
use crate::{
    dashboard::{failure_view, format::DateTime, loading_view, Frame},
    error::ApiError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The sessions of `user` (one's own without it; another user's for admins only).
#[server(prefix = "/api/fn", endpoint = "sessions")]
pub async fn sessions(user: Option<String>) -> Result<SessionsView, ApiError> {
    use crate::{
        account::Username,
        backend::{request_context, require_principal},
        error::respond_with,
    };

    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let me = require_principal(&parts)?;
    let user = match user.filter(|u| !u.trim().is_empty()) {
        Some(name) => Some(
            Username::parse(&name)
                .map_err(|e| respond_with(&ApiError::BadRequest(e.to_string())))?,
        ),
        None => None,
    };
    backend
        .sessions(&parts, &me, user)
        .await
        .map_err(|e| respond_with(&e))
}

/// Ends one session (one's own, or anyone's for admins).
#[server(prefix = "/api/fn", endpoint = "revoke_session")]
pub async fn revoke_session(id: String) -> Result<(), ApiError> {
    use crate::{
        backend::{request_context, require_principal},
        error::respond_with,
    };

    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let me = require_principal(&parts)?;
    backend
        .revoke_session(&parts, &me, &id)
        .await
        .map_err(|e| respond_with(&e))
}

/// Ends every session of the signed-in user but this one.
#[server(prefix = "/api/fn", endpoint = "sign_out_others")]
pub async fn sign_out_others() -> Result<u64, ApiError> {
    use crate::{
        backend::{request_context, require_principal},
        error::respond_with,
    };

    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let me = require_principal(&parts)?;
    backend
        .sign_out_others(&parts, &me)
        .await
        .map_err(|e| respond_with(&e))
}

/// Changes one's own password: the current one is checked (and throttled like a sign-in);
/// every other session ends, this one goes on.
#[server(prefix = "/api/fn", endpoint = "change_password")]
pub async fn change_password(current: String, new: String) -> Result<u64, ApiError> {
    use crate::{
        account::Password,
        backend::{request_context, require_principal},
        error::respond_with,
    };

    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let me = require_principal(&parts)?;
    let current = Password::for_login(current)
        .map_err(|e| respond_with(&ApiError::BadRequest(e.to_string())))?;
    backend
        .change_password(&parts, &me, current, new)
        .await
        .map_err(|e| respond_with(&e))
}

/// A browser and system, told apart well enough to recognise one's own devices.
pub fn device(agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .into_iter()
    .find(|(mark, _)| agent.contains(mark))
    .map(|(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(mark, _)| agent.contains(mark))
    .map(|(_, name)| name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_string(),
        (None, Some(s)) => s.to_string(),
        (None, None) if agent.is_empty() => "Unknown client".to_string(),
        (None, None) => agent.chars().take(40).collect(),
    }
}

fn when(unix_secs: i64) -> String {
    format!(
        "{} UTC",
        DateTime::from_ms(unix_secs.saturating_mul(1000)).full()
    )
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    let query = use_query_map();
    let user = Memo::new(move |_| query.with(|q| q.get("user")));
    let revoke = ServerAction::<RevokeSession>::new();
    let others = ServerAction::<SignOutOthers>::new();
    let password = ServerAction::<ChangePassword>::new();
    let list = Resource::new(
        move || {
            (
                user.get(),
                revoke.version().get(),
                others.version().get(),
                password.version().get(),
            )
        },
        |(user, _, _, _)| sessions(user),
    );
    view! {
        <Title text="Sessions"/>
        <Suspense fallback=loading_view>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <Sessions view revoke others password/> }.into_any(),
                    Err(err) => failure_view(err),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Sessions(
    view: SessionsView,
    revoke: ServerAction<RevokeSession>,
    others: ServerAction<SignOutOthers>,
    password: ServerAction<ChangePassword>,
) -> impl IntoView {
    let SessionsView { me, user, sessions } = view;
    let own = user == me.username;
    let is_admin = me.role == crate::account::Role::Admin;
    let failed = move || {
        let revoke_err = revoke.value().get().and_then(Result::err);
        let others_err = others.value().get().and_then(Result::err);
        revoke_err.or(others_err).map(|e| {
            view! { <p class="form-error" role="alert">{e.to_string()}</p> }
        })
    };
    let ended = move || {
        others.value().get().and_then(Result::ok).map(|n| {
            let s = if n == 1 { "" } else { "s" };
            view! { <p class="notice" role="status">{format!("Signed out of {n} other session{s}.")}</p> }
        })
    };
    let count = sessions.len();
    let rows = sessions
        .into_iter()
        .map(|s| {
            let agent = s.agent.clone().unwrap_or_default();
            view! {
                <tr data-current=s.current.to_string()>
                    <td title=agent.clone()>
                        {device(&agent)}
                        {s.current.then(|| view! { <span class="badge this-device">"This device"</span> })}
                    </td>
                    <td>{s.ip.clone().unwrap_or_else(|| "—".into())}</td>
                    <td>{when(s.created_at)}</td>
                    <td>{when(s.last_seen)}</td>
                    <td>
                        {(!s.current).then(|| view! {
                            <ActionForm action=revoke>
                                <input type="hidden" name="id" value=s.id.clone()/>
                                <button type="submit">"Revoke"</button>
                            </ActionForm>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Frame user=me>
            <h1>{if own { "Your sessions".to_string() } else { format!("Sessions of {user}") }}</h1>
            <p class="muted">
                {format!("{count} live session{}. ", if count == 1 { "" } else { "s" })}
                "Revoking one signs it out at once and closes its live pages."
            </p>
            {failed}
            {ended}
            <table class="sessions">
                <thead>
                    <tr>
                        <th>"Device"</th>
                        <th>"Address"</th>
                        <th>"Signed in"</th>
                        <th>"Last active"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            {own.then(|| view! {
                <ActionForm action=others attr:class="sign-out-others">
                    <button type="submit">"Sign out everywhere else"</button>
                </ActionForm>
            })}
            {own.then(|| view! { <PasswordForm password/> })}
            {own.then(|| view! { <crate::security::TwoFactorSection/> })}
            {is_admin.then(|| view! {
                <form method="get" class="session-user">
                    <label>"Sessions of user " <input type="text" name="user" autocomplete="off"/></label>
                    <button type="submit">"Show"</button>
                </form>
            })}
            <p><a href="/">"Back to the hosts"</a></p>
        </Frame>
    }
}

#[component]
fn PasswordForm(password: ServerAction<ChangePassword>) -> impl IntoView {
    let outcome = move || {
        password.value().get().map(|result| match result {
            Ok(n) => {
                let s = if n == 1 { "" } else { "s" };
                view! {
                    <p class="notice" role="status">
                        {format!("Password changed. {n} other session{s} signed out.")}
                    </p>
                }
                .into_any()
            }
            Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
        })
    };
    view! {
        <section class="password">
            <h2>"Change password"</h2>
            <p class="muted">"Every other session is signed out; this one stays."</p>
            <ActionForm action=password attr:class="password-form">
                <label>
                    "Current password"
                    <input type="password" name="current" autocomplete="current-password" required/>
                </label>
                <label>
                    "New password"
                    <input type="password" name="new" autocomplete="new-password" required minlength="8"/>
                </label>
                <button type="submit">"Change password"</button>
            </ActionForm>
            {outcome}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_by_browser_and_system() {
        let chrome_linux = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(device(chrome_linux), "Chrome on Linux");
        let firefox_mac =
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(device(firefox_mac), "Firefox on macOS");
        let safari_ios = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(device(safari_ios), "Safari on iOS");
        assert_eq!(device("curl/8.5.0"), "curl");
        assert_eq!(device(""), "Unknown client");
        assert_eq!(device("lookout-agent"), "lookout-agent");
    }
}

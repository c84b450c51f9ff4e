//! `/invite/{token}`: an invitation to a group. A new person chooses a username and
//! password (the same rules as everywhere) and lands on the overview of the group's hosts;
//! a signed-in user joins with one click. Used, expired and revoked invites say so.

use crate::account::{InviteInfo, InviteStatus};
use crate::{dashboard::loading_view, error::ApiError};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[server(prefix = "/api/fn", endpoint = "invite")]
pub async fn invite(token: String) -> Result<InviteInfo, ApiError> {
    use crate::{
        backend::{principal, request_context},
        error::respond_with,
    };

    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let (status, share) = backend
        .invite_status(&parts, &token)
        .await
        .map_err(|e| respond_with(&e))?;
    Ok(InviteInfo {
        status,
        share,
        signed_in_as: principal(&parts).map(|p| p.username),
    })
}

/// Creates an account through the invite, signs it in and goes to the overview.
#[server(prefix = "/api/fn", endpoint = "accept_invite")]
pub async fn accept_invite(
    token: String,
    username: String,
    password: String,
) -> Result<(), ApiError> {
    use crate::{account::Username, backend::request_context, error::respond_with};

    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let username = Username::parse(&username)
        .map_err(|e| respond_with(&ApiError::BadRequest(e.to_string())))?;
    let step = backend
        .accept_invite(&parts, &token, username, password)
        .await
        .map_err(|e| respond_with(&e))?;
    crate::auth::go_on(step, "/");
    Ok(())
}

/// Joins the invite's group as the signed-in user and goes to the overview.
#[server(prefix = "/api/fn", endpoint = "join_invite")]
pub async fn join_invite(token: String) -> Result<(), ApiError> {
    use crate::{
        backend::{request_context, require_principal},
        error::respond_with,
    };

    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let me = require_principal(&parts)?;
    backend
        .join_invite(&me, &token)
        .await
        .map_err(|e| respond_with(&e))?;
    leptos_axum::redirect("/");
    Ok(())
}

#[component]
pub fn InvitePage() -> impl IntoView {
    let params = use_params_map();
    let token = Memo::new(move |_| params.with(|p| p.get("token").unwrap_or_default()));
    let info = Resource::new(move || token.get(), invite);
    view! {
        <Title text="Invitation"/>
        <Suspense fallback=loading_view>
            {move || Suspend::new(async move {
                match info.await {
                    Ok(info) => view! { <Invite info token=token.get_untracked()/> }.into_any(),
                    Err(err) => view! {
                        <main class="login"><p class="form-error" role="alert">{err.to_string()}</p></main>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Invite(info: InviteInfo, token: String) -> impl IntoView {
    let accept = ServerAction::<AcceptInvite>::new();
    let join = ServerAction::<JoinInvite>::new();
    let error = move || {
        let a = accept.value().get().and_then(Result::err);
        let j = join.value().get().and_then(Result::err);
        a.or(j)
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    };
    let body = match (&info.status, info.signed_in_as) {
        (InviteStatus::Open { group }, Some(user)) => view! {
            <h1 id="invite-title">{format!("Join {group}")}</h1>
            <p class="muted">{format!("You are signed in as {user}. Joining shows you the hosts of {group}.")}</p>
            <ActionForm action=join>
                <input type="hidden" name="token" value=token.clone()/>
                {error}
                <button type="submit" class="primary">"Join"</button>
            </ActionForm>
        }
        .into_any(),
        (InviteStatus::Open { group }, None) => view! {
            <h1 id="invite-title">{format!("Join {group}")}</h1>
            <p class="muted">"Choose a username and a password (at least 8 characters) for your account."</p>
            <ActionForm action=accept>
                <input type="hidden" name="token" value=token.clone()/>
                <label for="username">"Username"</label>
                <input id="username" name="username" type="text" autocomplete="username"
                    autocapitalize="none" spellcheck="false" maxlength="64" required autofocus/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="new-password"
                    maxlength="128" required/>
                {error}
                <button type="submit" class="primary">"Join"</button>
            </ActionForm>
        }
        .into_any(),
        (refused, _) => view! {
            <h1 id="invite-title">"Invitation not valid"</h1>
            <p class="form-error" role="alert">{refused.refusal().unwrap_or_default()}</p>
            <p><a href="/login">"Sign in"</a></p>
        }
        .into_any(),
    };
    let share = info.share.map(|share| {
        view! {
            <figure class="qr">
                <div class="qr-code" role="img" aria-label="QR code of this invite's link" inner_html=share.qr_svg></div>
                <figcaption class="muted">
                    "Scan to open this invite on a phone, or share the link: "
                    <code class="invite-link">{share.link}</code>
                </figcaption>
            </figure>
        }
    });
    view! {
        <main class="login">
            <section class="card login-card" aria-labelledby="invite-title">
                <div class="brand">
                    <img src="/logo.svg" alt="" width="40" height="40"/>
                    <span>"Lookout"</span>
                </div>
                {body}
                {share}
            </section>
        </main>
    }
}

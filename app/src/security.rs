//! The signed-in user's second factor, on the settings page: set it up (a QR code and the
//! key, confirmed with a first code), see how many recovery codes are left, turn it off
//! (with the password; not when an admin requires it).

use crate::{
    account::{Enrolment, TwoFactorView},
    auth::RecoveryCodes,
    error::{ApiError, LoginError},
};
use leptos::prelude::*;

#[server(prefix = "/api/fn", endpoint = "two_factor_status")]
pub async fn two_factor_status() -> Result<TwoFactorView, ApiError> {
    use crate::{
        backend::{request_context, require_principal},
        error::respond_with,
    };
    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let me = require_principal(&parts)?;
    backend.two_factor(&me).await.map_err(|e| respond_with(&e))
}

/// A new secret to enrol (kept in the session until confirmed).
#[server(prefix = "/api/fn", endpoint = "begin_two_factor")]
pub async fn begin_two_factor() -> Result<Enrolment, ApiError> {
    use crate::{
        backend::{request_context, require_principal},
        error::respond_with,
    };
    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let me = require_principal(&parts)?;
    backend
        .begin_two_factor(&parts, &me)
        .await
        .map_err(|e| respond_with(&e))
}

/// Confirms the enrolment with a first code; the new recovery codes.
#[server(prefix = "/api/fn", endpoint = "confirm_two_factor")]
pub async fn confirm_two_factor(code: String) -> Result<Vec<String>, LoginError> {
    use crate::{
        backend::{principal, request_context},
        error::respond_with,
    };
    let (backend, parts) = request_context().map_err(|_| respond_with(&LoginError::Unavailable))?;
    let me = principal(&parts).ok_or_else(|| respond_with(&LoginError::InvalidCredentials))?;
    if code.len() > 64 {
        return Err(respond_with(&LoginError::WrongCode));
    }
    backend
        .confirm_two_factor(&parts, &me, &code)
        .await
        .map_err(|e| respond_with(&e))
}

/// Turns one's second factor off, after the password.
#[server(prefix = "/api/fn", endpoint = "disable_two_factor")]
pub async fn disable_two_factor(password: String) -> Result<(), ApiError> {
    use crate::{
        account::Password,
        backend::{request_context, require_principal},
        error::respond_with,
    };
    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let me = require_principal(&parts)?;
    let password = Password::for_login(password)
        .map_err(|e| respond_with(&ApiError::BadRequest(e.to_string())))?;
    backend
        .disable_two_factor(&parts, &me, password)
        .await
        .map_err(|e| respond_with(&e))
}

#[component]
pub fn TwoFactorSection() -> impl IntoView {
    let begin = ServerAction::<BeginTwoFactor>::new();
    let confirm = ServerAction::<ConfirmTwoFactor>::new();
    let disable = ServerAction::<DisableTwoFactor>::new();
    let status = Resource::new(
        move || (confirm.version().get(), disable.version().get()),
        |_| two_factor_status(),
    );
    view! {
        <section class="two-factor">
            <h2>"Two-factor sign-in"</h2>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(view) => view! { <TwoFactor view begin confirm disable/> }.into_any(),
                        Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn TwoFactor(
    view: TwoFactorView,
    begin: ServerAction<BeginTwoFactor>,
    confirm: ServerAction<ConfirmTwoFactor>,
    disable: ServerAction<DisableTwoFactor>,
) -> impl IntoView {
    if view.enabled {
        // Just turned on here: the recovery codes, once. (Turned off since, they are gone.)
        if let Some(Ok(codes)) = confirm.value().get_untracked() {
            return view! { <RecoveryCodes codes next="/settings/sessions".to_string()/> }
                .into_any();
        }
        let left = view.recovery_codes_left;
        let error = move || {
            disable
                .value()
                .get()
                .and_then(Result::err)
                .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
        };
        return view! {
            <p class="notice two-factor-on" data-testid="two-factor-state">
                {format!("On. {left} recovery code{} left.", if left == 1 { "" } else { "s" })}
            </p>
            {(!view.required).then(|| view! {
                <ActionForm action=disable attr:class="row-form disable-two-factor">
                    <label>
                        "Password "
                        <input type="password" name="password" autocomplete="current-password" required/>
                    </label>
                    <button type="submit">"Turn off"</button>
                </ActionForm>
                {error}
            })}
            {view.required.then(|| view! { <p class="muted">"Required for your account by the admins."</p> })}
        }
        .into_any();
    }
    let enrolment = move || begin.value().get().and_then(Result::ok);
    let error = move || {
        confirm
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    };
    view! {
        <p class="muted" data-testid="two-factor-state">
            "Off. With it on, signing in also asks for a code from an authenticator app."
        </p>
        <Show
            when=move || enrolment().is_some()
            fallback=move || view! {
                <ActionForm action=begin attr:class="begin-two-factor">
                    <button type="submit">"Set up two-factor sign-in"</button>
                </ActionForm>
            }
        >
            {move || enrolment().map(|Enrolment { secret, qr_svg }| view! {
                <p>"Scan this code with an authenticator app, or type the key into it, then enter the code it shows."</p>
                <figure class="qr">
                    <div class="qr-code" inner_html=qr_svg></div>
                    <figcaption>"Key: " <code class="totp-secret" data-testid="totp-secret">{secret}</code></figcaption>
                </figure>
                <ActionForm action=confirm attr:class="row-form confirm-two-factor">
                    <label>
                        "Code "
                        <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required/>
                    </label>
                    <button type="submit">"Turn on"</button>
                </ActionForm>
                {error}
            })}
        </Show>
    }
    .into_any()
}

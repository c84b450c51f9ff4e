//! `/login/verify`: the second step of a sign-in. A code from the user's authenticator app
//! (or a recovery code); or, for a user the admins require a second factor of who has
//! none yet, setting one up first. No session exists until this step passes.

use super::api::{pending_sign_in, VerifyCode};
use crate::account::{safe_next, Enrolment, SecondFactorPrompt};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn VerifyPage() -> impl IntoView {
    let query = use_query_map();
    // As asked: the server decides where a sign-in may return to (another app behind
    // Lookout's sign-in, or a path here); links on this page use `safe_next`.
    let next = Memo::new(move |_| query.read().get("next").unwrap_or_default());
    let verify = ServerAction::<VerifyCode>::new();
    let prompt = Resource::new(|| (), |_| pending_sign_in());
    view! {
        <Title text="Two-factor sign-in"/>
        <main class="login">
            <section class="card login-card verify-card" aria-labelledby="verify-title">
                <div class="brand">
                    <img src="/logo.svg" alt="" width="40" height="40"/>
                    <h1 id="verify-title">"Lookout"</h1>
                </div>
                <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match prompt.await {
                            Ok(SecondFactorPrompt::Code) => view! { <CodeForm verify next/> }.into_any(),
                            Ok(SecondFactorPrompt::Enrol(enrolment)) => {
                                view! { <Enrol enrolment verify next/> }.into_any()
                            }
                            Ok(SecondFactorPrompt::Expired) => expired().into_any(),
                            Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}

fn expired() -> impl IntoView {
    view! {
        <p class="form-error" role="alert">"This sign-in has expired or was already used."</p>
        <p><a href="/login">"Sign in again"</a></p>
    }
}

/// The code field, its errors, and after an enrolment the new recovery codes.
#[component]
fn CodeForm(verify: ServerAction<VerifyCode>, next: Memo<String>) -> impl IntoView {
    let error = move || {
        verify
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    };
    let codes = move || verify.value().get().and_then(Result::ok).flatten();
    view! {
        <Show
            when=move || codes().is_none()
            fallback=move || view! {
                <RecoveryCodes codes=codes().unwrap_or_default() next=safe_next(Some(&next.get()))/>
            }
        >
            <ActionForm action=verify attr:class="verify-form">
                <label for="code">"Code"</label>
                <input
                    id="code"
                    name="code"
                    type="text"
                    inputmode="numeric"
                    autocomplete="one-time-code"
                    autocapitalize="none"
                    spellcheck="false"
                    maxlength="64"
                    required
                    autofocus
                />
                <input type="hidden" name="next" value=move || next.get()/>
                {error}
                <button type="submit" class="primary" disabled=move || verify.pending().get()>
                    "Verify"
                </button>
            </ActionForm>
            <p class="muted hint">"Lost your device? Type one of your recovery codes instead."</p>
        </Show>
    }
}

#[component]
fn Enrol(
    enrolment: Enrolment,
    verify: ServerAction<VerifyCode>,
    next: Memo<String>,
) -> impl IntoView {
    let Enrolment { secret, qr_svg } = enrolment;
    view! {
        <p class="muted">
            "Your account needs two-factor sign-in. Scan this code with an authenticator app, "
            "or type the key into it, then enter the six-digit code it shows."
        </p>
        <figure class="qr">
            <div class="qr-code" inner_html=qr_svg></div>
            <figcaption>"Key: " <code class="totp-secret" data-testid="totp-secret">{secret}</code></figcaption>
        </figure>
        <CodeForm verify next/>
    }
}

/// The ten recovery codes, shown once.
#[component]
pub fn RecoveryCodes(codes: Vec<String>, next: String) -> impl IntoView {
    let items = codes
        .into_iter()
        .map(|c| view! { <li><code>{c}</code></li> })
        .collect_view();
    view! {
        <div class="recovery-codes" role="status">
            <p>
                <strong>"Two-factor sign-in is on."</strong>
                " Keep these recovery codes somewhere safe: each one signs you in once "
                "without your device. They are not shown again."
            </p>
            <ol data-testid="recovery-codes">{items}</ol>
            <a class="button primary" href=next>"Continue"</a>
        </div>
    }
}

use super::api::{Login, Logout};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The sign-in form. A plain HTML form that posts to the `login` server function, so it
/// works before the WASM has loaded; once hydrated the same form calls it with `fetch`.
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = move || {
        login
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| e.to_string())
    };

    view! {
        <main class="login">
            <section class="card login-card" aria-labelledby="login-title">
                <div class="brand">
                    <img src="/logo.svg" alt="" width="40" height="40"/>
                    <h1 id="login-title">"Lookout"</h1>
                </div>
                <p class="muted">"Sign in to see your dashboards."</p>
                <ActionForm action=login>
                    <label for="username">"Username"</label>
                    <input
                        id="username"
                        name="username"
                        type="text"
                        autocomplete="username"
                        autocapitalize="none"
                        spellcheck="false"
                        maxlength="64"
                        required
                        autofocus
                    />
                    <label for="password">"Password"</label>
                    <input
                        id="password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        maxlength="128"
                        required
                    />
                    <input type="hidden" name="next" value=next/>
                    {move || {
                        error()
                            .map(|message| {
                                view! {
                                    <p class="form-error" role="alert">
                                        {message}
                                    </p>
                                }
                            })
                    }}
                    <button type="submit" class="primary" disabled=move || login.pending().get()>
                        {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
            </section>
        </main>
    }
}

/// `Sign out` as a POST form (never a link: a GET must not change state).
#[component]
pub fn SignOutButton() -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    view! {
        <ActionForm action=logout attr:class="sign-out">
            <button type="submit">"Sign out"</button>
        </ActionForm>
    }
}

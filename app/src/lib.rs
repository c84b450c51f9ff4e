#![forbid(unsafe_code)]
//! Lookout's user interface: pages, components, server functions and the types they
//! exchange. Compiled to WASM (`hydrate`) for the browser and natively (`ssr`) for the
//! server, which renders every page before the WASM arrives.

// Dependencies point up this list, never down. Wire types first: they import nothing of the
// crate but what is above them here.
pub mod account;
pub mod error;
pub mod history;
pub mod host;
pub mod live;
pub mod team;

// The seam to the server's domain.
#[cfg(feature = "ssr")]
pub mod backend;

// Shared by the pages: the socket client and the charts.
pub mod chart;
pub mod live_client;

// Features: pages and the server functions behind them.
pub mod admin;
pub mod audit;
pub mod auth;
pub mod dashboard;
pub mod hosts;
pub mod invite;
pub mod overview;
pub mod security;
pub mod settings;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, Link, Meta, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    ParamSegment, SsrMode, StaticSegment,
};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="dark light"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options=options.clone()/>
                <HashedStylesheet options id="leptos"/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    mark_hydrated();
    view! {
        <Link rel="icon" type_="image/svg+xml" href="/logo.svg"/>
        <Meta name="description" content="Lookout: a secure, live monitoring dashboard."/>
        <Title formatter=|page: String| if page.is_empty() { "Lookout".to_string() } else { format!("{page} · Lookout") }/>
        <Router>
            <Routes fallback=NotFound>
                // Async: the whole page is rendered before it is sent, so it reads
                // complete without JavaScript (out-of-order streaming needs a script).
                <Route path=StaticSegment("") view=overview::OverviewPage ssr=SsrMode::Async/>
                <Route
                    path=(StaticSegment("hosts"), ParamSegment("name"))
                    view=hosts::HostPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("settings"), StaticSegment("sessions"))
                    view=settings::SessionsPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("settings"), StaticSegment("audit"))
                    view=audit::AuditPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("users"))
                    view=admin::UsersPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("groups"))
                    view=admin::GroupsPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("tokens"))
                    view=admin::TokensPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("invite"), ParamSegment("token"))
                    view=invite::InvitePage
                    ssr=SsrMode::Async
                />
                <Route path=StaticSegment("login") view=SignInRoute/>
                <Route path=(StaticSegment("login"), StaticSegment("verify")) view=auth::VerifyPage/>
            </Routes>
        </Router>
    }
}

#[component]
fn SignInRoute() -> impl IntoView {
    view! {
        <Title text="Sign in"/>
        <auth::LoginPage/>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <main class="page">
            <h1>"Not found"</h1>
            <p>
                "There is nothing at this address. " <a href="/">"Back to the dashboard"</a>
            </p>
        </main>
    }
}

/// Sets `data-hydrated` on `<body>` once the WASM has taken over, so tests (and curious
/// people) can tell a hydrated page from server-rendered HTML.
fn mark_hydrated() {
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}

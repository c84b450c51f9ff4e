//! The dashboard at `/`: who is signed in and what machine Lookout is watching.

mod format;
pub mod live;

// Re-exported where the server has always found it.
pub use crate::host::HostInfo;
pub use format::{format_bytes, format_duration};

use crate::{account::Principal, auth::SignOutButton, error::ApiError};
use leptos::prelude::*;
use leptos_router::components::Redirect;
use serde::{Deserialize, Serialize};

/// Everything the dashboard page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub user: Principal,
    pub host: HostInfo,
}

#[server(prefix = "/api/fn", endpoint = "overview")]
pub async fn dashboard_overview() -> Result<Overview, ApiError> {
    use crate::{
        backend::{request_context, require_principal},
        error::respond_with,
    };

    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let user = require_principal(&parts)?;
    let host = backend.host_info().await.map_err(|e| respond_with(&e))?;
    Ok(Overview { user, host })
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| dashboard_overview());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(overview) => view! { <Dashboard overview/> }.into_any(),
                    Err(ApiError::Unauthorized) => view! { <Redirect path="/login"/> }.into_any(),
                    Err(err) => {
                        view! {
                            <main class="page">
                                <p class="form-error" role="alert">{err.to_string()}</p>
                            </main>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn Dashboard(overview: Overview) -> impl IntoView {
    let Overview { user, host } = overview;
    let memory_pct = percent(host.memory_used_bytes, host.memory_total_bytes);
    let cores = match host.physical_cores {
        Some(p) if p != host.logical_cores => format!("{} ({} physical)", host.logical_cores, p),
        _ => host.logical_cores.to_string(),
    };
    let swap = if host.swap_total_bytes == 0 {
        "none".to_string()
    } else {
        format!(
            "{} of {}",
            format_bytes(host.swap_used_bytes),
            format_bytes(host.swap_total_bytes)
        )
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <img src="/logo.svg" alt="" width="28" height="28"/>
                <span>"Lookout"</span>
            </a>
            <div class="who">
                <span class="user" data-testid="signed-in-user">{user.username.clone()}</span>
                <span class="role">{user.role.to_string()}</span>
                <SignOutButton/>
            </div>
        </header>
        <main class="page">
            <h1 class="host-name" data-testid="host-name">{host.hostname.clone()}</h1>
            <p class="muted">{format!("{} · kernel {}", host.os, host.kernel)}</p>
            <section class="tiles" aria-label="Host overview">
                <Tile label="Uptime" value=format_duration(host.uptime_secs)/>
                <Tile label="CPU cores" value=cores detail=host.cpu_brand.clone()/>
                <Tile
                    label="Memory"
                    value=format!("{memory_pct:.0} %")
                    detail=format!(
                        "{} used of {}",
                        format_bytes(host.memory_used_bytes),
                        format_bytes(host.memory_total_bytes),
                    )
                />
                <Tile label="Swap" value=swap/>
            </section>
            <live::LiveCharts/>
        </main>
    }
}

#[component]
fn Tile(
    label: &'static str,
    #[prop(into)] value: String,
    #[prop(optional, into)] detail: Option<String>,
) -> impl IntoView {
    view! {
        <article class="tile">
            <h2>{label}</h2>
            <p class="value">{value}</p>
            {detail.map(|d| view! { <p class="detail muted">{d}</p> })}
        </article>
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

//! The host page at `/hosts/{name}`: every series of one host, grouped by prefix, over a
//! time range from the URL. Server-rendered from the history, then hydrated; the `Live`
//! range follows the host over the socket and moves every tick, a past range is fetched
//! once and stays put. An unknown host (or one the user may not see) is a 404.

pub mod model;

use crate::{
    account::Principal,
    chart::SeriesChart,
    dashboard::{failure_view, format::DateTime, loading_view, Frame},
    error::ApiError,
    history::{HistoryPoint, Range, SeriesHistory, Tier},
    live::ServerMessage,
    live_client::{self, Connection, Subscription},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    hooks::{use_navigate, use_params_map, use_query_map},
    NavigateOptions,
};
use model::{group_series, merge_points, RangeSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Live points kept per series: the window and a little more.
const LIVE_KEEP_MS: i64 = 15 * 60_000;

/// What the host page shows: the history of every series over the range's window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostPageData {
    pub user: Principal,
    pub host: String,
    pub range: RangeSpec,
    /// The window, on the server's clock.
    pub from: i64,
    pub to: i64,
    pub series: Vec<SeriesHistory>,
}

/// A host's history over a range; `None` if there is no such host for this user.
#[server(prefix = "/api/fn", endpoint = "host_history")]
pub async fn host_history(
    host: String,
    range: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<Option<HostPageData>, ApiError> {
    use crate::{
        backend::{request_context, require_principal},
        error::respond_with,
        live::is_valid_name,
    };

    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let user = require_principal(&parts)?;
    if !is_valid_name(&host) {
        return Ok(None);
    }
    let Some(names) = backend
        .host_series(&user, &host)
        .await
        .map_err(|e| respond_with(&e))?
    else {
        return Ok(None);
    };
    let range = RangeSpec::from_args(range, from, to);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (from, to) = range.window(now);
    let step = range.step_secs(now);
    let mut series = Vec::with_capacity(names.len());
    for name in names {
        if let Some(history) = backend
            .series_history(&user, &host, &name, from, to, step)
            .await
            .map_err(|e| respond_with(&e))?
        {
            series.push(history);
        }
    }
    Ok(Some(HostPageData {
        user,
        host,
        range,
        from,
        to,
        series,
    }))
}

#[component]
pub fn HostPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let host = Memo::new(move |_| params.with(|p| p.get("name").unwrap_or_default()));
    let range = Memo::new(move |_| query.with(|q| RangeSpec::parse(|k| q.get(k))));
    let history = Resource::new(
        move || (host.get(), range.get()),
        |(host, range)| {
            let (range, from, to) = range.to_args();
            host_history(host, range, from, to)
        },
    );
    view! {
        <Title text=move || host.get()/>
        <Transition fallback=loading_view>
            {move || Suspend::new(async move {
                match history.await {
                    Ok(Some(history)) => view! { <HostView history/> }.into_any(),
                    Ok(None) => view! { <UnknownHost host=host.get_untracked()/> }.into_any(),
                    Err(err) => failure_view(err),
                }
            })}
        </Transition>
    }
}

#[component]
fn UnknownHost(host: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Unknown host"/>
        <main class="page">
            <h1>"Unknown host"</h1>
            <p>
                "There is no host named " <code>{host}</code> " that you can see. "
                <a href="/">"Back to all hosts"</a>
            </p>
        </main>
    }
}

/// The browser's clock zone, ms ahead of UTC: 0 until hydrated (so the server's HTML and
/// the first client render agree), then the zone of the browser.
fn browser_offset() -> RwSignal<i64> {
    let offset = RwSignal::new(0);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let minutes = js_sys::Date::new_0().get_timezone_offset();
        offset.set(-(minutes as i64) * 60_000);
    });
    offset
}

#[component]
fn HostView(history: HostPageData) -> impl IntoView {
    let HostPageData {
        user,
        host,
        range,
        from,
        to,
        series,
    } = history;
    let live = range.is_live();
    let tier = series.iter().map(|s| s.tier).max().unwrap_or(Tier::Raw);
    let min_step = tier.width_ms();
    let data = RwSignal::new(
        series
            .into_iter()
            .map(|s| (s.series, s.points))
            .collect::<BTreeMap<String, Vec<HistoryPoint>>>(),
    );
    let offset = browser_offset();
    let cursor = RwSignal::new(None::<i64>);
    // The live window ends at the newest sample, or at the server's time when the page
    // loaded plus the time since, whichever is later: it moves even for a quiet host.
    let clock = RwSignal::new(to);
    let span = to - from;
    let domain = Memo::new(move |_| {
        if live {
            let newest = data.with(|d| d.values().filter_map(|p| p.last()).map(|p| p.ts()).max());
            let end = clock.get().max(newest.unwrap_or(i64::MIN));
            (end - span, end)
        } else {
            (from, to)
        }
    });
    let connection = RwSignal::new(Connection::Connecting);
    if live {
        follow(clock, to);
        live_client::connect(connection, Subscription::Hosts(vec![host.clone()]), {
            let host = host.clone();
            move |message| apply_live(&host, data, message)
        });
    }
    let groups = Memo::new(move |_| data.with(|d| group_series(d.keys().map(String::as_str))));
    let description = describe(range, tier, from, to);
    // Erased, so the page's view type stays shallow enough for the compiler.
    let group_view = move |(group, names): (String, Vec<String>)| {
        let charts = names
            .into_iter()
            .map(|name| {
                let key = name.clone();
                let points =
                    Memo::new(move |_| data.with(|d| d.get(&key).cloned().unwrap_or_default()));
                view! {
                    <SeriesChart
                        name
                        points=points.into()
                        min_step=min_step
                        domain=domain.into()
                        cursor
                        offset_ms=offset.into()
                    />
                }
            })
            .collect_view();
        let (id, labelled_by) = (format!("group-{group}"), format!("group-{group}"));
        view! {
            <section class="group" aria-labelledby=labelled_by>
                <h2 id=id>{group}</h2>
                <div class="charts">{charts}</div>
            </section>
        }
        .into_any()
    };
    view! {
        <Frame user connection=live.then_some(connection) wide=true>
            <nav class="crumbs">
                <a href="/">"← All hosts"</a>
            </nav>
            <header class="host-head">
                <h1 class="host-name" data-testid="host-name">{host.clone()}</h1>
                <RangeControl host=host.clone() current=range offset from to/>
            </header>
            <p class="muted range-note">{description}</p>
            <Show
                when=move || !groups.with(Vec::is_empty)
                fallback=|| {
                    view! {
                        <p class="empty card">"No samples from this host in this range."</p>
                    }
                }
            >
                <For each=move || groups.get() key=|(group, names)| (group.clone(), names.clone()) children=group_view/>
            </Show>
        </Frame>
    }
}

/// A line under the heading saying what the charts show.
fn describe(range: RangeSpec, tier: Tier, from: i64, to: i64) -> String {
    let what = match range {
        RangeSpec::Preset(Range::Live) => "Live: the last 5 minutes, every sample".to_string(),
        RangeSpec::Preset(r) => format!("The last {}", r.label()),
        RangeSpec::Custom { .. } => format!(
            "From {} to {} UTC",
            DateTime::from_ms(from).full(),
            DateTime::from_ms(to).full()
        ),
    };
    match tier {
        Tier::Raw => what,
        Tier::Minute => format!("{what} · per-minute averages, with the lowest and highest sample"),
        Tier::Hour => format!("{what} · per-hour averages, with the lowest and highest sample"),
    }
}

/// Adds a frame of the host's stream to the charts.
fn apply_live(
    host: &str,
    data: RwSignal<BTreeMap<String, Vec<HistoryPoint>>>,
    message: ServerMessage,
) {
    match message {
        ServerMessage::Snapshot { host: h, series } if h == host => {
            let newest = series.values().filter_map(|p| p.last()).map(|p| p.0).max();
            let keep_from = newest.unwrap_or(0) - LIVE_KEEP_MS;
            data.update(|d| {
                for (name, points) in series {
                    merge_points(d.entry(name).or_default(), &points, keep_from);
                }
            });
        }
        ServerMessage::Samples {
            host: h,
            ts,
            values,
        } if h == host => {
            data.update(|d| {
                for (name, value) in values {
                    merge_points(
                        d.entry(name).or_default(),
                        &[(ts, value)],
                        ts - LIVE_KEEP_MS,
                    );
                }
            });
        }
        _ => {}
    }
}

/// Moves the live window's clock every second: the server's time at load plus the time
/// the browser has counted since.
#[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
fn follow(clock: RwSignal<i64>, loaded_at: i64) {
    #[cfg(feature = "hydrate")]
    {
        let started = js_sys::Date::now();
        if let Ok(handle) = set_interval_with_handle(
            move || {
                let elapsed = (js_sys::Date::now() - started) as i64;
                let _ = clock.try_set(loaded_at + elapsed);
            },
            std::time::Duration::from_secs(1),
        ) {
            on_cleanup(move || handle.clear());
        }
    }
}

/// The range buttons and the custom range form. Plain GET forms, so they work before
/// the WASM arrives; once hydrated, they navigate without a reload.
#[component]
fn RangeControl(
    host: String,
    current: RangeSpec,
    offset: RwSignal<i64>,
    from: i64,
    to: i64,
) -> AnyView {
    let navigate = use_navigate();
    let path = format!("/hosts/{host}");
    let go = {
        let (navigate, path) = (navigate.clone(), path.clone());
        move |spec: RangeSpec| {
            navigate(
                &format!("{path}{}", spec.to_search()),
                NavigateOptions {
                    scroll: false,
                    ..Default::default()
                },
            )
        }
    };
    let buttons = Range::ALL
        .into_iter()
        .map(|range| {
            let spec = RangeSpec::Preset(range);
            let go = go.clone();
            view! {
                <button
                    type="submit"
                    name="range"
                    value=range.label().to_lowercase()
                    aria-pressed=if current == spec { "true" } else { "false" }
                    on:click=move |ev| {
                        ev.prevent_default();
                        go(spec);
                    }
                >
                    {range.label()}
                </button>
            }
        })
        .collect_view();
    let from_input = NodeRef::<leptos::html::Input>::new();
    let to_input = NodeRef::<leptos::html::Input>::new();
    let error = RwSignal::new(None::<&'static str>);
    let local = move |ms: i64| DateTime::from_ms(ms + offset.get()).input_value();
    let on_apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let read = |input: NodeRef<leptos::html::Input>| {
            input
                .get_untracked()
                .and_then(|i| DateTime::parse_input(&i.value()))
                .map(|dt| dt.to_ms() - offset.get_untracked())
        };
        match (read(from_input), read(to_input)) {
            (Some(from), Some(to)) => match RangeSpec::custom(from, to) {
                Some(spec) => {
                    error.set(None);
                    go(spec);
                }
                None => error.set(Some("The start must come before the end.")),
            },
            _ => error.set(Some("Enter both a start and an end.")),
        }
    };
    view! {
        <div class="range-control">
            <form method="get" action=path.clone() class="ranges" aria-label="Time range">
                {buttons}
            </form>
            <form method="get" action=path class="custom-range" on:submit=on_apply>
                <label>
                    "From" <input type="datetime-local" name="from" node_ref=from_input value=move || local(from)/>
                </label>
                <label>
                    "To" <input type="datetime-local" name="to" node_ref=to_input value=move || local(to)/>
                </label>
                <button
                    type="submit"
                    aria-pressed=if matches!(current, RangeSpec::Custom { .. }) { "true" } else { "false" }
                >
                    "Apply"
                </button>
                {move || error.get().map(|e| view! { <span class="form-error" role="alert">{e}</span> })}
            </form>
        </div>
    }
    .into_any()
}

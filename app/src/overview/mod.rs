//! The host overview at `/`: one row per host with its status, key figures and a small
//! live CPU trace; sortable by any column, filtered by name and status, with the view in
//! the URL. Built for a thousand hosts: the rows live as typed data ([`fleet`]), only the
//! rows in view are in the DOM (a fixed row height, a scroll container and a spacer), and
//! each visible trace is drawn on a `<canvas>`, not as SVG nodes.

pub mod fleet;
pub mod query;
#[cfg(feature = "hydrate")]
mod trace;

use crate::{
    account::Principal,
    dashboard::{
        failure_view,
        format::{format_ago, Unit},
        loading_view, whoami, Frame,
    },
    live::{HostStatus, ServerMessage},
    live_client::{self, Connection, Subscription},
};
use fleet::Fleet;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    hooks::{use_navigate, use_query_map},
    NavigateOptions,
};
use query::{Column, OverviewQuery, StatusFilter};

/// Height of one row in CSS pixels; the stylesheet's `.fleet .row` says the same.
const ROW_H: f64 = 40.0;
/// Rows rendered above and below the visible ones, so a fast scroll shows no blank rows.
const OVERSCAN: usize = 4;
/// The name of the `performance.measure` taken for each overview frame.
pub const MEASURE: &str = "lookout:overview-update";

#[component]
pub fn OverviewPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| whoami());
    view! {
        <Title text="Hosts"/>
        <Suspense fallback=loading_view>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(user) => view! { <Overview user/> }.into_any(),
                    Err(err) => failure_view(err),
                }
            })}
        </Suspense>
    }
}

/// One visible row, formatted: what the DOM shows, compared field by field so that only
/// what changed is touched.
#[derive(Clone, Debug, PartialEq)]
struct RowView {
    /// Position in the sorted, filtered list.
    position: usize,
    host: String,
    status: HostStatus,
    status_title: String,
    cpu: Option<f64>,
    cells: [String; 7],
    seen: String,
    trace: Vec<f32>,
}

fn figure(v: Option<f64>, unit: Unit) -> String {
    v.map_or_else(|| "–".to_string(), |v| unit.format(v))
}

fn row_view(fleet: &Fleet, position: usize, index: usize) -> RowView {
    let row = &fleet.rows()[index];
    let status = fleet.status(row);
    let t = fleet.thresholds();
    let age = fleet.now - row.last_seen;
    RowView {
        position,
        host: row.host.clone(),
        status,
        status_title: format!(
            "{}: last sample {}. Stale after {} s, offline after {} s without a sample.",
            status.as_str(),
            format_ago(age),
            t.stale_after_ms / 1000,
            t.offline_after_ms / 1000
        ),
        cpu: row.cpu,
        cells: [
            figure(row.cpu, Unit::Percent),
            figure(row.mem, Unit::Percent),
            row.load
                .map_or_else(|| "–".to_string(), |v| format!("{v:.2}")),
            figure(row.net_rx, Unit::BytesPerSec),
            figure(row.net_tx, Unit::BytesPerSec),
            figure(row.disk_read, Unit::BytesPerSec),
            figure(row.disk_write, Unit::BytesPerSec),
        ],
        seen: format_ago(age),
        trace: row.trace.iter().copied().collect(),
    }
}

/// The count above the table: "200 hosts", or "1 of 200 shown" when filtered.
fn count_text(loaded: bool, shown: usize, total: usize) -> String {
    if !loaded {
        "Waiting for the live stream…".to_string()
    } else if shown == total {
        format!("{total} {}", if total == 1 { "host" } else { "hosts" })
    } else {
        format!("{shown} of {total} shown")
    }
}

#[component]
fn Overview(user: Principal) -> impl IntoView {
    let connection = RwSignal::new(Connection::Connecting);
    // The typed rows, outside the reactive graph; `version` says when they changed.
    let fleet = StoredValue::new(Fleet::default());
    let version = RwSignal::new(0u64);
    live_client::connect(connection, Subscription::Overview, move |message| {
        if let ServerMessage::Overview {
            now,
            full,
            rows,
            removed,
            thresholds,
        } = message
        {
            #[cfg(feature = "hydrate")]
            let timing = trace::Timing::start();
            fleet.update_value(|f| f.apply(now, full, rows, removed, thresholds));
            version.update(|v| *v += 1);
            #[cfg(feature = "hydrate")]
            timing.finish_after_render(MEASURE);
        }
    });

    let query_map = use_query_map();
    let query = Memo::new(move |_| query_map.with(|q| OverviewQuery::parse(|k| q.get(k))));
    let order = Memo::new(move |_| {
        version.track();
        query.with(|q| fleet.with_value(|f| f.order(q)))
    });
    let loaded = Memo::new(move |_| {
        version.track();
        fleet.with_value(|f| f.loaded)
    });
    let total = Memo::new(move |_| {
        version.track();
        fleet.with_value(Fleet::len)
    });
    let counts = Memo::new(move |_| {
        version.track();
        fleet.with_value(Fleet::status_counts)
    });

    let navigate = use_navigate();
    let set_query = StoredValue::new(move |q: OverviewQuery| {
        navigate(
            &format!("/{}", q.to_search()),
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        )
    });
    let update = move |f: &dyn Fn(OverviewQuery) -> OverviewQuery| {
        let next = f(query.get_untracked());
        set_query.with_value(|set| set(next));
    };

    // What is in view: the scroll position and the height of the window.
    let scroll_top = RwSignal::new(0.0f64);
    let viewport = RwSignal::new(900.0f64);
    #[cfg(feature = "hydrate")]
    {
        let measure = move || {
            if let Ok(h) = window().inner_height() {
                viewport.set(h.as_f64().unwrap_or(900.0));
            }
        };
        Effect::new(move |_| measure());
        let handle = window_event_listener(leptos::ev::resize, move |_| measure());
        on_cleanup(move || handle.remove());
    }
    let slot_count =
        Memo::new(move |_| (viewport.get() / ROW_H).ceil() as usize + 1 + 2 * OVERSCAN);
    let first = Memo::new(move |_| ((scroll_top.get() / ROW_H) as usize).saturating_sub(OVERSCAN));
    let visible = Memo::new(move |_| {
        version.track();
        let (first, count) = (first.get(), slot_count.get());
        order.with(|order| {
            fleet.with_value(|f| {
                (0..count)
                    .map(|slot| {
                        let position = first + slot;
                        order.get(position).map(|&i| row_view(f, position, i))
                    })
                    .collect::<Vec<_>>()
            })
        })
    });

    let filter_value = query.get_untracked().q;
    let on_filter = move |ev: leptos::ev::Event| {
        let q = event_target_value(&ev);
        update(&move |cur| OverviewQuery {
            q: q.clone(),
            ..cur
        });
    };
    let status_buttons = StatusFilter::ALL
        .into_iter()
        .map(|filter| {
            let count = move || match filter {
                StatusFilter::All => None,
                StatusFilter::Only(s) => {
                    let c = counts.get();
                    loaded.get().then(|| {
                        c[match s {
                            HostStatus::Online => 0,
                            HostStatus::Stale => 1,
                            HostStatus::Offline => 2,
                        }]
                    })
                }
            };
            view! {
                <button
                    type="button"
                    class=format!("status-filter {}", filter.key())
                    aria-pressed=move || if query.with(|q| q.status == filter) { "true" } else { "false" }
                    on:click=move |_| update(&move |cur| OverviewQuery { status: filter, ..cur })
                >
                    {filter.label()}
                    {move || count().map(|c| view! { <span class="n">{c}</span> })}
                </button>
            }
        })
        .collect_view()
        .into_any();
    let headers = Column::ALL
        .into_iter()
        .map(|column| {
            let sort = move || {
                query.with(|q| {
                    if q.sort == column {
                        q.dir.aria()
                    } else {
                        "none"
                    }
                })
            };
            view! {
                <div
                    role="columnheader"
                    class=format!("cell {}{}", column.key(), if column.numeric() { " num" } else { "" })
                    aria-sort=sort
                >
                    <button type="button" on:click=move |_| update(&move |cur| cur.sorted_by(column))>
                        {column.label()}
                        <span class="arrow" aria-hidden="true">
                            {move || match sort() {
                                "ascending" => "▲",
                                "descending" => "▼",
                                _ => "",
                            }}
                        </span>
                    </button>
                </div>
            }
        })
        .collect_view()
        .into_any();

    let on_scroll = move |ev: leptos::ev::Event| {
        use wasm_bindgen::JsCast;
        if let Some(el) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        {
            scroll_top.set(f64::from(el.scroll_top()));
        }
    };
    let shown = move || order.with(Vec::len);

    view! {
        <Frame user connection=Some(connection) wide=true>
            <div class="overview-head">
                <h1>"Hosts"</h1>
                <p class="count muted" data-testid="host-count" role="status">
                    {move || count_text(loaded.get(), shown(), total.get())}
                </p>
            </div>
            <form class="controls" method="get" action="/" role="search" on:submit=|ev| ev.prevent_default()>
                <label for="host-filter">"Filter hosts"</label>
                <input
                    type="search"
                    id="host-filter"
                    name="q"
                    placeholder="Host name contains…"
                    autocomplete="off"
                    value=filter_value
                    on:input=on_filter
                />
                <div class="status-filters" role="group" aria-label="Status">
                    {status_buttons}
                </div>
            </form>
            <div class="fleet" role="table" aria-label="Hosts" aria-rowcount=move || shown() + 1>
                <div role="rowgroup" class="fleet-head">
                    <div role="row" class="row head">
                        {headers}
                        <div role="columnheader" class="cell trace">"Last minute"</div>
                    </div>
                </div>
                <Show
                    when=move || { loaded.get() && shown() > 0 }
                    fallback=move || view! { <EmptyState loaded=loaded total=total/> }
                >
                    <div role="rowgroup" class="fleet-body" on:scroll=on_scroll>
                        <div class="fleet-spacer" style:height=move || format!("{}px", shown() as f64 * ROW_H)>
                            <For each=move || 0..slot_count.get() key=|slot| *slot let:slot>
                                <Slot row=Memo::new(move |_| visible.with(|v| v.get(slot).cloned().flatten()))/>
                            </For>
                        </div>
                    </div>
                </Show>
            </div>
        </Frame>
    }
}

#[component]
fn EmptyState(loaded: Memo<bool>, total: Memo<usize>) -> impl IntoView {
    move || {
        if !loaded.get() {
            view! {
                <div class="empty">
                    <p>"Waiting for the live stream…"</p>
                </div>
            }
            .into_any()
        } else if total.get() == 0 {
            view! {
                <div class="empty">
                    <p><strong>"No hosts yet."</strong></p>
                    <p class="muted">
                        "Hosts appear here as soon as they send metrics: run "
                        <code>"lookout agent"</code> " on a machine, or push samples to "
                        <code>"/api/v1/ingest"</code> " with an ingest token."
                    </p>
                    <p class="muted">
                        "You see the hosts of your groups and of the groups below them; "
                        "if you expected some here, ask an admin to add you to a group."
                    </p>
                </div>
            }
            .into_any()
        } else {
            view! {
                <div class="empty">
                    <p><strong>"No host matches."</strong></p>
                    <p><a href="/">"Show all hosts"</a></p>
                </div>
            }
            .into_any()
        }
    }
}

/// One row slot: shows whichever visible row falls in it, positioned by its place in
/// the list; slots are reused as the list scrolls, so only their text changes.
#[component]
fn Slot(row: Memo<Option<RowView>>) -> AnyView {
    let text = move |f: fn(&RowView) -> String| {
        move || row.with(|r| r.as_ref().map(f).unwrap_or_default())
    };
    let cell = move |i: usize| {
        move || row.with(|r| r.as_ref().map(|r| r.cells[i].clone()).unwrap_or_default())
    };
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(canvas) = canvas.get() {
            row.with(|r| trace::draw(&canvas, r.as_ref().map_or(&[][..], |r| &r.trace[..])));
        }
    });
    let status = move || row.with(|r| r.as_ref().map_or("", |r| r.status.as_str()));
    let numbers = Column::ALL
        .into_iter()
        .filter(|c| c.numeric())
        .enumerate()
        .map(|(i, column)| {
            view! { <div role="cell" class=format!("cell num {}", column.key())>{cell(i)}</div> }
        })
        .collect_view();
    view! {
        <div
            role="row"
            class="row"
            hidden=move || row.with(Option::is_none)
            aria-rowindex=move || row.with(|r| r.as_ref().map_or(0, |r| r.position + 2))
            style:transform=move || {
                row.with(|r| format!("translateY({}px)", r.as_ref().map_or(0.0, |r| r.position as f64 * ROW_H)))
            }
        >
            <div role="cell" class="cell host">
                <a class="host-link" href=move || row.with(|r| r.as_ref().map(|r| format!("/hosts/{}", r.host)).unwrap_or_default())>
                    {text(|r| r.host.clone())}
                </a>
            </div>
            <div role="cell" class="cell status">
                <span class="badge" data-status=status title=text(|r| r.status_title.clone())>
                    {status}
                </span>
            </div>
            {numbers}
            <div role="cell" class="cell seen">{text(|r| r.seen.clone())}</div>
            <div role="cell" class="cell trace">
                <canvas node_ref=canvas width="112" height="24" aria-label=text(|r| {
                    r.cpu.map_or_else(|| "no CPU figure".to_string(), |c| format!("CPU trace, now {c:.1} %"))
                })></canvas>
            </div>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_says_how_many_hosts_and_how_many_are_shown() {
        assert_eq!(count_text(false, 0, 0), "Waiting for the live stream…");
        assert_eq!(count_text(true, 0, 0), "0 hosts");
        assert_eq!(count_text(true, 1, 1), "1 host");
        assert_eq!(count_text(true, 200, 200), "200 hosts");
        assert_eq!(count_text(true, 1, 200), "1 of 200 shown");
    }
}

//! `/settings/audit` (admins): the audit log, newest first, filtered by user, action and
//! time. Read-only: no server function changes an audit row, and the database refuses to.

use crate::account::{percent_encode, AuditView};
use crate::{
    dashboard::{failure_view, format::DateTime, loading_view, Frame},
    error::ApiError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `2025-01-31T13:05` (UTC, as the form sends it) as unix seconds.
#[cfg(feature = "ssr")]
fn instant(raw: Option<String>) -> Result<Option<i64>, String> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => DateTime::parse_input(s)
            .map(|t| Some(t.to_ms() / 1000))
            .ok_or_else(|| format!("{s:?} is not a date and time")),
    }
}

#[cfg(feature = "ssr")]
fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The audit log (admins only).
#[server(prefix = "/api/fn", endpoint = "audit_log")]
pub async fn audit_log(
    user: Option<String>,
    event: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<i64>,
) -> Result<AuditView, ApiError> {
    use crate::{
        account::AuditQuery,
        backend::{request_context, require_principal},
        error::respond_with,
    };

    let (backend, parts) = request_context().map_err(|e| respond_with(&e))?;
    let me = require_principal(&parts)?;
    let bad = |e: String| respond_with(&ApiError::BadRequest(e));
    let query = AuditQuery {
        user: nonempty(user),
        event: nonempty(event),
        from: instant(from).map_err(bad)?,
        to: instant(to).map_err(bad)?,
        before,
    };
    backend
        .audit_log(&me, query)
        .await
        .map_err(|e| respond_with(&e))
}

fn when(unix_secs: i64) -> String {
    DateTime::from_ms(unix_secs.saturating_mul(1000)).full()
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let args = Memo::new(move |_| {
        query.with(|q| {
            (
                q.get("user"),
                q.get("event"),
                q.get("from"),
                q.get("to"),
                q.get("before").and_then(|b| b.parse::<i64>().ok()),
            )
        })
    });
    let log = Resource::new(
        move || args.get(),
        |(user, event, from, to, before)| audit_log(user, event, from, to, before),
    );
    view! {
        <Title text="Audit log"/>
        <Suspense fallback=loading_view>
            {move || Suspend::new(async move {
                let (user, event, from, to, _) = args.get_untracked();
                match log.await {
                    Ok(view) => view! { <Audit view user event from to/> }.into_any(),
                    Err(err) => failure_view(err),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Audit(
    view: AuditView,
    user: Option<String>,
    event: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> impl IntoView {
    let AuditView {
        me,
        entries,
        events,
        more,
    } = view;
    let chosen = event.clone().unwrap_or_default();
    let options = events
        .into_iter()
        .map(|e| {
            let selected = e == chosen;
            view! { <option value=e.clone() selected=selected>{e.clone()}</option> }
        })
        .collect_view();
    let older = more.then(|| {
        let last = entries.last().map_or(0, |e| e.id);
        let mut params = vec![format!("before={last}")];
        for (key, value) in [("user", &user), ("event", &event), ("from", &from), ("to", &to)] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                params.push(format!("{key}={}", percent_encode(v)));
            }
        }
        view! { <a class="older" href=format!("/settings/audit?{}", params.join("&"))>"Older entries"</a> }
    });
    let empty = entries.is_empty();
    let rows = entries
        .into_iter()
        .map(|e| {
            view! {
                <tr>
                    <td class="nowrap">{when(e.at)}</td>
                    <td>{e.actor.unwrap_or_else(|| "—".into())}</td>
                    <td>{e.user.unwrap_or_else(|| "—".into())}</td>
                    <td><code>{e.event}</code></td>
                    <td>{e.ip.unwrap_or_else(|| "—".into())}</td>
                    <td>{e.detail.unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Frame user=me>
            <h1>"Audit log"</h1>
            <p class="muted">"Times are UTC. Entries cannot be changed or deleted."</p>
            <form method="get" class="audit-filter">
                <label>"User " <input type="text" name="user" value=user.unwrap_or_default() autocomplete="off"/></label>
                <label>
                    "Action "
                    <select name="event">
                        <option value="">"any"</option>
                        {options}
                    </select>
                </label>
                <label>"From " <input type="datetime-local" name="from" value=from.unwrap_or_default()/></label>
                <label>"To " <input type="datetime-local" name="to" value=to.unwrap_or_default()/></label>
                <button type="submit">"Filter"</button>
            </form>
            <table class="sessions audit">
                <thead>
                    <tr>
                        <th>"Time"</th>
                        <th>"By"</th>
                        <th>"User"</th>
                        <th>"Action"</th>
                        <th>"Address"</th>
                        <th>"Detail"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            {empty.then(|| view! { <p class="muted">"No entries match."</p> })}
            {older}
        </Frame>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "ssr")]
    #[test]
    fn filter_times_are_utc_form_values_and_bad_ones_are_refused() {
        assert_eq!(instant(None), Ok(None));
        assert_eq!(instant(Some(" ".into())), Ok(None));
        assert_eq!(
            instant(Some("2026-12-01T10:00".into())),
            Ok(Some(1_796_119_200))
        );
        assert!(instant(Some("yesterday".into())).is_err());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("login.failure"), "login.failure");
        assert_eq!(percent_encode("2026-12-01T10:00"), "2026-12-01T10%3A00");
        assert_eq!(percent_encode("a b&c"), "a%20b%26c");
    }
}

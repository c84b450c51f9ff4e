//! The audit log page's server function: admins only, filtered by user, action and time;
//! rows that no statement can change or delete.

use crate::{
    cli::{add_user, run},
    helpers::*,
};
use reqwest::{header, StatusCode};
use serde_json::Value;

async fn audit(app: &TestApp, cookie: Option<&str>, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut req = client_from(None)
        .post(app.url("/api/fn/audit_log"))
        .form(form);
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn events(view: &Value) -> Vec<(String, String)> {
    view["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["user"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn with_carol() -> (TestApp, String) {
    let app = spawn_app().await;
    add_user(&app, "carol", "carols-long-password");
    assert_eq!(
        app.login("carol", "wrong-password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app.login("carol", "carols-long-password").await;
    (app, session_cookie(&res).unwrap())
}

#[tokio::test]
async fn only_admins_read_the_audit_log() {
    let (app, carol) = with_carol().await;
    let (status, body) = audit(&app, Some(&carol), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        !body.to_string().contains("login."),
        "no rows in a refusal: {body}"
    );
    let (status, _) = audit(&app, None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let page = app
        .get("/settings/audit", Some(&carol))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("not allowed"), "{page}");
    assert!(!page.contains("login.success"));

    let admin = app.admin_cookie().await;
    let (status, view) = audit(&app, Some(&admin), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let seen = events(&view);
    assert_eq!(
        seen[0],
        ("login.success".into(), "admin".into()),
        "newest first"
    );
    assert!(seen.contains(&("login.failure".into(), "carol".into())));
    assert!(seen.contains(&("user.created".into(), "carol".into())));
    let page = app
        .get("/settings/audit", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    for text in ["Audit log", "login.failure", "carol"] {
        assert!(page.contains(text), "{text} on the page");
    }
}

#[tokio::test]
async fn the_audit_log_filters_by_user_action_and_time() {
    let (app, _) = with_carol().await;
    run(&app, &["group", "add", "ops"]);
    let admin = app.admin_cookie().await;

    let (_, view) = audit(&app, Some(&admin), &[("user", "carol")]).await;
    let seen = events(&view);
    assert!(
        !seen.is_empty() && seen.iter().all(|(_, u)| u == "carol"),
        "{seen:?}"
    );

    let (_, view) = audit(&app, Some(&admin), &[("event", "login")]).await;
    let seen = events(&view);
    assert!(
        seen.iter().all(|(e, _)| e.starts_with("login.")),
        "{seen:?}"
    );
    assert!(seen.iter().any(|(e, _)| e == "login.failure"));
    assert!(seen.iter().any(|(e, _)| e == "login.success"));

    let (_, view) = audit(&app, Some(&admin), &[("event", "group.created")]).await;
    assert_eq!(
        events(&view),
        [("group.created".to_string(), String::new())]
    );

    let (_, view) = audit(&app, Some(&admin), &[("from", "2099-01-01T00:00")]).await;
    assert!(events(&view).is_empty(), "nothing after 2099");
    let (_, view) = audit(&app, Some(&admin), &[("to", "2000-01-01T00:00")]).await;
    assert!(events(&view).is_empty(), "nothing before 2000");
    let (status, _) = audit(&app, Some(&admin), &[("from", "last tuesday")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn audit_rows_cannot_be_changed_or_deleted() {
    let (app, _) = with_carol().await;
    let db = lookout::store::Db::connect(&app.config.database_url)
        .await
        .unwrap();
    let before = db.recent_audit(100).await.unwrap();
    assert!(!before.is_empty());
    let mut attempts = vec![
        "UPDATE audit_log SET username = 'mallory'",
        "DELETE FROM audit_log",
    ];
    // PostgreSQL's TRUNCATE fires no row trigger: a statement trigger refuses it.
    if db.kind() == lookout::store::Kind::Postgres {
        attempts.push("TRUNCATE audit_log");
    }
    for sql in attempts {
        let err = sqlx::query(sql).execute(db.pool()).await.unwrap_err();
        assert!(
            err.to_string().contains("audit rows cannot be"),
            "{sql}: {err}"
        );
    }
    assert_eq!(db.recent_audit(100).await.unwrap(), before);
}

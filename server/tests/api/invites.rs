//! Invites: a link from `lookout invite create` lets a new person make an account that
//! lands in the invite's group, or a signed-in user join it; used, expired, revoked and
//! forged links are refused with a clear message, and a link's uses cannot be outrun.

use crate::{
    cli::{add_user, audit_events, run},
    helpers::*,
    ingest::{batch, now_ms, push, sample},
};
use reqwest::{header, StatusCode};
use serde_json::Value;

const PASSWORD: &str = "a-long-enough-password";

/// `ops` with host `ops-1`, and `other` with host `other-1`.
async fn two_groups() -> TestApp {
    let app = spawn_app().await;
    for (group, host) in [("ops", "ops-1"), ("other", "other-1")] {
        run(&app, &["group", "add", group]);
        let out = run(
            &app,
            &[
                "token", "create", host, "--scope", "ingest", "--host", host, "--group", group,
            ],
        );
        let token = out.lines().last().unwrap().trim().to_string();
        let body = batch(host, vec![sample("cpu.total", now_ms(), 1.0)]);
        assert_eq!(
            push(&app, Some(&token), body).await.status(),
            StatusCode::ACCEPTED
        );
    }
    app
}

/// Creates an invite and returns the token of its link (the path after `/invite/`).
fn invite(app: &TestApp, args: &[&str]) -> String {
    let mut all = vec!["invite", "create"];
    all.extend_from_slice(args);
    let out = run(app, &all);
    let link = out.lines().last().unwrap().trim();
    assert!(
        link.starts_with("http") && link.contains("/invite/"),
        "{out}"
    );
    link.rsplit_once("/invite/").unwrap().1.to_string()
}

async fn accept(app: &TestApp, token: &str, user: &str) -> reqwest::Response {
    client_from(None)
        .post(app.url("/api/fn/accept_invite"))
        .header(header::ACCEPT, "application/json")
        .form(&[("token", token), ("username", user), ("password", PASSWORD)])
        .send()
        .await
        .unwrap()
}

async fn hosts(app: &TestApp, cookie: &str) -> Vec<String> {
    let v: Value = app
        .get("/api/v1/hosts", Some(cookie))
        .await
        .json()
        .await
        .unwrap();
    v["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_invite_makes_an_account_that_sees_exactly_the_groups_hosts() {
    let app = two_groups().await;
    let token = invite(&app, &["ops", "--uses", "2", "--expires", "1h"]);
    let page = app.get(&format!("/invite/{token}"), None).await;
    assert_eq!(page.status(), StatusCode::OK, "open without a session");
    let html = page.text().await.unwrap();
    assert!(html.contains("Join ops"), "{html}");
    // Its link and the same as a QR code, made on the server, to open it on a phone.
    assert!(
        html.contains(&format!("http://{}/invite/{token}", app.addr)),
        "{html}"
    );
    assert!(html.contains("<svg") && html.contains("QR code"), "{html}");

    let taken = accept(&app, &token, "admin").await;
    assert_eq!(taken.status(), StatusCode::BAD_REQUEST);
    assert!(taken.text().await.unwrap().contains("taken"));
    let short = client_from(None)
        .post(app.url("/api/fn/accept_invite"))
        .form(&[
            ("token", token.as_str()),
            ("username", "shorty"),
            ("password", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        short.status(),
        StatusCode::BAD_REQUEST,
        "the same password rules"
    );
    assert!(
        run(&app, &["invite", "list"]).contains("0/2"),
        "refusals use nothing"
    );

    let res = accept(&app, &token, "newbie").await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let cookie = session_cookie(&res).expect("signed in at once");
    assert_eq!(hosts(&app, &cookie).await, ["ops-1"]);
    // The same rules as any account: it signs in again with its password.
    assert_eq!(app.login("newbie", PASSWORD).await.status(), StatusCode::OK);

    let listed = run(&app, &["invite", "list"]);
    assert!(
        listed.contains("open") && listed.contains("1/2"),
        "{listed}"
    );
    let events = audit_events(&app).await;
    for e in ["invite.created", "invite.used", "user.created"] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
}

#[tokio::test]
async fn a_signed_in_user_joins_the_invites_group() {
    let app = two_groups().await;
    add_user(&app, "carol", PASSWORD);
    let cookie = session_cookie(&app.login("carol", PASSWORD).await).unwrap();
    assert!(hosts(&app, &cookie).await.is_empty(), "no group yet");
    let token = invite(&app, &["other"]);
    let html = app
        .get(&format!("/invite/{token}"), Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("You are signed in as carol"), "{html}");
    let res = client_from(None)
        .post(app.url("/api/fn/join_invite"))
        .header(header::COOKIE, &cookie)
        .header(header::ACCEPT, "application/json")
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success() || res.status().is_redirection());
    assert_eq!(hosts(&app, &cookie).await, ["other-1"]);
}

#[tokio::test]
async fn used_expired_revoked_and_forged_invites_are_refused_clearly() {
    let app = two_groups().await;
    let db = lookout::store::Db::connect(&app.config.database_url)
        .await
        .unwrap();

    let used = invite(&app, &["ops"]);
    assert!(accept(&app, &used, "first").await.status().is_success());
    let expired = invite(&app, &["ops"]);
    let id: i64 = expired.split_once('.').unwrap().0.parse().unwrap();
    sqlx::query("UPDATE invites SET expires_at = 0 WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await
        .unwrap();
    let revoked = invite(&app, &["ops"]);
    let id = revoked.split_once('.').unwrap().0;
    run(&app, &["invite", "revoke", id]);
    let good = invite(&app, &["ops"]);
    let (id, secret) = good.split_once('.').unwrap();
    let forged = format!("{id}.{}", secret.chars().rev().collect::<String>());

    for (token, says) in [
        (used.as_str(), "used already"),
        (expired.as_str(), "expired"),
        (revoked.as_str(), "revoked"),
        (forged.as_str(), "not valid"),
        ("999.abc", "not valid"),
    ] {
        let html = app
            .get(&format!("/invite/{token}"), None)
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains(says), "{token}: page says {says}");
        assert!(
            !html.contains("<svg"),
            "{token}: no QR code for a refused invite"
        );
        let res = accept(&app, token, "mallory").await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{token}");
        assert!(
            res.text().await.unwrap().contains(says),
            "{token}: answer says {says}"
        );
    }
    assert_eq!(
        app.login("mallory", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "no account was made"
    );
    let listed = run(&app, &["invite", "list"]);
    for state in ["used", "expired", "revoked", "open"] {
        assert!(listed.contains(state), "{state} in {listed}");
    }
}

#[tokio::test]
async fn concurrent_sign_ups_cannot_outrun_an_invites_uses() {
    let app = two_groups().await;
    let token = invite(&app, &["ops", "--uses", "1"]);
    let answers = futures_util::future::join_all((0..6).map(|i| {
        let app = &app;
        let token = token.clone();
        async move { accept(app, &token, &format!("racer-{i}")).await.status() }
    }))
    .await;
    let won = answers.iter().filter(|s| s.is_success()).count();
    assert_eq!(won, 1, "{answers:?}");
    let mut accounts = 0;
    for i in 0..6 {
        if app.login(&format!("racer-{i}"), PASSWORD).await.status() == StatusCode::OK {
            accounts += 1;
        }
    }
    assert_eq!(accounts, 1, "the losers' accounts are gone");
}

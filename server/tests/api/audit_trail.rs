//! Every change made on the pages lands in the audit log, naming who did it, and no secret
//! it handled (passwords, the session cookie, a token, an invite's secret, a TOTP key,
//! recovery codes) reaches a log line or an audit row.

use crate::{
    cli::add_user,
    groups::{cookie_of, fleet, PASSWORD},
    helpers::*,
    two_factor::enrol,
};
use lookout::store::Db;
use reqwest::StatusCode;
use serde_json::Value;

/// Calls a server function that must succeed; its answer.
async fn ok(app: &TestApp, name: &str, cookie: &str, form: &[(&str, &str)]) -> Value {
    let res = call(app, name, cookie, form).await;
    assert_eq!(res.status(), StatusCode::OK, "{name} {form:?}");
    res.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn every_change_made_on_the_pages_is_audited_with_its_actor_and_no_secret() {
    // Unique to this test: the log buffer is shared by every test's server.
    const NEW_PASSWORD: &str = "audit-trail-new-password-8813";
    const CHANGED_PASSWORD: &str = "audit-trail-changed-password-2291";
    let app = fleet().await;
    add_user(&app, "pat", PASSWORD);
    let admin = app.admin_cookie().await;
    assert_eq!(
        app.login("pat", "not-pats-password").await.status(),
        StatusCode::UNAUTHORIZED
    );

    ok(
        &app,
        "add_user",
        &admin,
        &[
            ("username", "quinn"),
            ("password", NEW_PASSWORD),
            ("role", "viewer"),
        ],
    )
    .await;
    ok(
        &app,
        "set_user_role",
        &admin,
        &[("username", "quinn"), ("role", "admin")],
    )
    .await;
    ok(
        &app,
        "set_user_disabled",
        &admin,
        &[("username", "quinn"), ("disabled", "true")],
    )
    .await;
    ok(
        &app,
        "set_user_disabled",
        &admin,
        &[("username", "quinn"), ("disabled", "false")],
    )
    .await;
    ok(&app, "remove_user", &admin, &[("username", "quinn")]).await;
    ok(
        &app,
        "create_group",
        &admin,
        &[("name", "web"), ("parent", "ops")],
    )
    .await;
    ok(
        &app,
        "rename_group",
        &admin,
        &[("name", "web"), ("new_name", "frontend")],
    )
    .await;
    ok(
        &app,
        "nest_group",
        &admin,
        &[("name", "frontend"), ("parent", "staging")],
    )
    .await;
    ok(
        &app,
        "add_member",
        &admin,
        &[("group", "frontend"), ("username", "pat")],
    )
    .await;
    ok(
        &app,
        "remove_member",
        &admin,
        &[("group", "frontend"), ("username", "pat")],
    )
    .await;
    ok(&app, "delete_group", &admin, &[("name", "frontend")]).await;
    ok(
        &app,
        "move_host",
        &admin,
        &[("host", "db-1"), ("group", "ops")],
    )
    .await;
    let token = ok(
        &app,
        "create_token",
        &admin,
        &[("name", "trail"), ("scope", "read"), ("group", "ops")],
    )
    .await;
    let token = token["Token"]["secret"].as_str().unwrap().to_string();
    ok(&app, "revoke_token", &admin, &[("name", "trail")]).await;
    let invite = ok(
        &app,
        "create_invite",
        &admin,
        &[("group", "ops"), ("uses", "2"), ("expires_days", "1")],
    )
    .await;
    let link = invite["Invite"]["link"].as_str().unwrap().to_string();
    let invite_token = link.rsplit('/').next().unwrap().to_string();
    let invite_id = invite_token.split('.').next().unwrap().to_string();
    let invite_secret = invite_token.split('.').nth(1).unwrap().to_string();
    let visitor = client_from(None)
        .post(app.url("/api/fn/accept_invite"))
        .form(&[
            ("token", invite_token.as_str()),
            ("username", "rita"),
            ("password", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(visitor.status(), StatusCode::OK);
    ok(&app, "revoke_invite", &admin, &[("id", &invite_id)]).await;
    ok(
        &app,
        "set_two_factor_policy",
        &admin,
        &[("policy", "admins")],
    )
    .await;
    ok(
        &app,
        "set_two_factor_policy",
        &admin,
        &[("policy", "optional")],
    )
    .await;

    // Pat: a second factor, a password change, another session ended, a sign-out.
    let pat = cookie_of(&app, "pat").await;
    let (totp_secret, recovery) = enrol(&app, &pat).await;
    ok(&app, "reset_two_factor", &admin, &[("username", "pat")]).await;
    ok(
        &app,
        "change_password",
        &pat,
        &[("current", PASSWORD), ("new", CHANGED_PASSWORD)],
    )
    .await;
    let other = session_cookie(&app.login("pat", CHANGED_PASSWORD).await).unwrap();
    ok(&app, "sign_out_others", &other, &[]).await;
    assert_eq!(
        app.post_fn("logout", Some(&other)).await.status(),
        StatusCode::OK
    );

    let db = Db::connect(&app.config.database_url).await.unwrap();
    let rows = db.recent_audit(200).await.unwrap();
    let by = |event: &str| -> Vec<(Option<String>, Option<String>)> {
        rows.iter()
            .filter(|r| r.event == event)
            .map(|r| (r.actor.clone(), r.username.clone()))
            .collect()
    };
    let admin_did = |event: &str| {
        assert!(
            by(event)
                .iter()
                .any(|(actor, _)| actor.as_deref() == Some(ADMIN)),
            "{event} by admin: {:?}",
            by(event)
        );
    };
    for event in [
        "user.created",
        "user.role_changed",
        "user.disabled",
        "user.enabled",
        "user.removed",
        "group.created",
        "group.renamed",
        "group.moved",
        "group.member_added",
        "group.member_removed",
        "group.removed",
        "host.moved",
        "token.created",
        "token.revoked",
        "invite.created",
        "invite.revoked",
        "settings.changed",
        "two_factor.disabled",
    ] {
        admin_did(event);
    }
    let pat_did = |event: &str| {
        assert!(
            by(event)
                .iter()
                .any(|(actor, user)| actor.as_deref() == Some("pat")
                    && user.as_deref() == Some("pat")),
            "{event} by pat: {:?}",
            by(event)
        );
    };
    for event in [
        "login.success",
        "two_factor.enabled",
        "user.password_changed",
        "session.revoked",
        "logout",
    ] {
        pat_did(event);
    }
    assert!(!by("login.failure").is_empty());
    assert!(by("invite.used")
        .iter()
        .any(|(_, u)| u.as_deref() == Some("rita")));
    // Rows name people; they are never about the command line here.
    assert!(rows
        .iter()
        .all(|r| r.actor.as_deref() != Some("(command line)")
            || [
                "user.created",
                "group.created",
                "group.member_added",
                "token.created",
                "invite.created"
            ]
            .contains(&r.event.as_str())));

    let logs = captured_logs();
    let session_id = admin.split_once('=').unwrap().1.to_string();
    let mut secrets = vec![
        NEW_PASSWORD.to_string(),
        CHANGED_PASSWORD.to_string(),
        token.clone(),
        token["lk_".len()..].to_string(),
        invite_secret,
        totp_secret,
        session_id,
    ];
    secrets.extend(recovery);
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: {secret}"
        );
        for row in &rows {
            let fields = [&row.actor, &row.username, &row.ip, &row.detail];
            assert!(
                !fields
                    .iter()
                    .any(|f| f.as_deref().is_some_and(|f| f.contains(secret.as_str()))),
                "a secret reached the audit log: {row:?}"
            );
        }
    }
}

//! The admin pages' server functions, called directly as a script would: each checks the
//! caller's role on the server. Admins may do everything; an owner manages the members,
//! invites and hosts of their group and below; everyone else gets 403 and nothing changes.

use crate::{
    cli::{add_user, run},
    groups::{cookie_of, fleet, PASSWORD},
    helpers::*,
    live::{closed_with, next_of_type, open},
};
use futures_util::SinkExt;
use lookout::store::{audit::AuditFilter, Db};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const ROLES: [&str; 5] = ["admin", "owner", "parent", "sibling", "nobody"];

/// The id of the invite a `invite create` printed the link of.
fn invite_id(app: &TestApp, group: &str) -> String {
    let out = run(app, &["invite", "create", group]);
    let link = out.lines().find(|l| l.contains("/invite/")).unwrap();
    let token = link.rsplit('/').next().unwrap();
    token.split('.').next().unwrap().to_string()
}

/// One server function, called by one role, on targets of that role's own (so that the
/// calls of one role cannot change what another's find).
struct Case {
    endpoint: &'static str,
    form: Vec<(String, String)>,
    /// The roles allowed; every other gets 403.
    allowed: &'static [&'static str],
}

fn cases(role: &str, invites: &[(String, String)]) -> Vec<Case> {
    let own = |prefix: &str| format!("{prefix}-{role}");
    let form = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    let invite = |group: &str| {
        invites
            .iter()
            .find(|(r, g)| r == &format!("{group}-{role}") && !g.is_empty())
            .map(|(_, id)| id.clone())
            .unwrap()
    };
    const ADMIN: &[&str] = &["admin"];
    const MANAGERS_OF_DB: &[&str] = &["admin", "owner"];
    vec![
        Case {
            endpoint: "add_user",
            form: form(&[
                ("username", own("new")),
                ("password", PASSWORD.into()),
                ("role", "viewer".into()),
            ]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "set_user_disabled",
            form: form(&[("username", own("victim")), ("disabled", "true".into())]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "set_user_role",
            form: form(&[("username", own("promoted")), ("role", "admin".into())]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "remove_user",
            form: form(&[("username", own("removed"))]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "reset_two_factor",
            form: form(&[("username", own("victim"))]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "set_two_factor_policy",
            form: form(&[("policy", "optional".into())]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "create_group",
            form: form(&[("name", own("made")), ("parent", "ops".into())]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "rename_group",
            form: form(&[("name", own("ren")), ("new_name", own("renamed"))]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "nest_group",
            form: form(&[("name", own("nest")), ("parent", "db".into())]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "delete_group",
            form: form(&[("name", own("del"))]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "add_member",
            form: form(&[("group", "db".into()), ("username", own("joiner"))]),
            allowed: MANAGERS_OF_DB,
        },
        Case {
            endpoint: "add_member",
            form: form(&[("group", "staging".into()), ("username", own("joiner"))]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "remove_member",
            form: form(&[("group", "db".into()), ("username", own("leaver"))]),
            allowed: MANAGERS_OF_DB,
        },
        Case {
            endpoint: "move_host",
            form: form(&[("host", "db-1".into()), ("group", "db".into())]),
            allowed: MANAGERS_OF_DB,
        },
        Case {
            endpoint: "move_host",
            form: form(&[("host", "stage-1".into()), ("group", "staging".into())]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "create_invite",
            form: form(&[
                ("group", "db".into()),
                ("uses", "1".into()),
                ("expires_days", "7".into()),
            ]),
            allowed: MANAGERS_OF_DB,
        },
        Case {
            endpoint: "create_invite",
            form: form(&[
                ("group", "staging".into()),
                ("uses", "1".into()),
                ("expires_days", "7".into()),
            ]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "revoke_invite",
            form: form(&[("id", invite("db"))]),
            allowed: MANAGERS_OF_DB,
        },
        Case {
            endpoint: "revoke_invite",
            form: form(&[("id", invite("staging"))]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "create_token",
            form: form(&[
                ("name", own("tok-new")),
                ("scope", "ingest".into()),
                ("group", "db".into()),
                ("host", "db-*".into()),
            ]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "revoke_token",
            form: form(&[("name", own("tok"))]),
            allowed: ADMIN,
        },
        Case {
            endpoint: "admin_users",
            form: vec![],
            allowed: ADMIN,
        },
        Case {
            endpoint: "admin_tokens",
            form: vec![],
            allowed: ADMIN,
        },
    ]
}

/// The fleet of the groups tests, plus, for every role, targets of its own: accounts to
/// disable, promote, remove, add and take out of `db`; groups to rename, nest and delete;
/// a token to revoke; invites to `db` and `staging` to revoke.
async fn admin_fleet() -> (TestApp, Vec<(String, String)>) {
    let app = fleet().await;
    let mut invites = Vec::new();
    for role in ROLES {
        for user in ["victim", "promoted", "removed", "joiner", "leaver"] {
            add_user(&app, &format!("{user}-{role}"), PASSWORD);
        }
        run(
            &app,
            &["group", "member", "add", "db", &format!("leaver-{role}")],
        );
        for group in ["ren", "nest", "del"] {
            run(&app, &["group", "add", &format!("{group}-{role}")]);
        }
        run(
            &app,
            &["token", "create", &format!("tok-{role}"), "--scope", "read"],
        );
        for group in ["db", "staging"] {
            invites.push((format!("{group}-{role}"), invite_id(&app, group)));
        }
    }
    (app, invites)
}

#[tokio::test]
async fn every_admin_server_function_is_allowed_or_refused_by_role() {
    let (app, invites) = admin_fleet().await;
    let mut cookies = Vec::new();
    for role in ROLES {
        let cookie = if role == "admin" {
            app.admin_cookie().await
        } else {
            cookie_of(&app, role).await
        };
        cookies.push((role, cookie));
    }
    let mut checked = 0;
    for (role, cookie) in &cookies {
        for case in cases(role, &invites) {
            let form: Vec<(&str, &str)> = case
                .form
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let res = call(&app, case.endpoint, cookie, &form).await;
            let status = res.status();
            let body = res.text().await.unwrap();
            let what = format!("{role} calls {} {:?}", case.endpoint, case.form);
            if case.allowed.contains(role) {
                assert_eq!(status, StatusCode::OK, "{what}: {body}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
                // No data in a refusal: none of the names the call was about, no host, no
                // secret.
                for (_, value) in &case.form {
                    assert!(
                        value.len() < 3 || !body.contains(value.as_str()),
                        "{what} leaks {value}: {body}"
                    );
                }
                for secret in ["db-1", "stage-1", "lk_", "/invite/"] {
                    assert!(!body.contains(secret), "{what} leaks {secret}: {body}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 5 * 23);

    // Nothing a refused call named has changed.
    let users = run(&app, &["user", "list"]);
    let groups = run(&app, &["group", "list"]);
    let tokens = run(&app, &["token", "list"]);
    let invite_list = run(&app, &["invite", "list"]);
    for role in ["parent", "sibling", "nobody"] {
        let line = |text: &str, name: &str| {
            text.lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .map(str::to_string)
        };
        let victim = line(&users, &format!("victim-{role}")).expect("victim still there");
        assert!(victim.contains("active"), "{victim}");
        let promoted = line(&users, &format!("promoted-{role}")).unwrap();
        assert!(promoted.contains("viewer"), "{promoted}");
        assert!(line(&users, &format!("removed-{role}")).is_some());
        assert!(line(&users, &format!("new-{role}")).is_none());
        for group in ["ren", "nest", "del"] {
            let g = line(&groups, &format!("{group}-{role}")).expect("group still there");
            assert!(g.contains(" root "), "{g}");
        }
        assert!(line(&groups, &format!("made-{role}")).is_none());
        assert!(line(&tokens, &format!("tok-{role}")).is_some());
        assert!(line(&tokens, &format!("tok-new-{role}")).is_none());
    }
    let db_line = groups
        .lines()
        .find(|l| l.starts_with("db "))
        .unwrap()
        .to_string();
    for role in ["parent", "sibling", "nobody"] {
        assert!(db_line.contains(&format!("leaver-{role}")), "{db_line}");
        assert!(!db_line.contains(&format!("joiner-{role}")), "{db_line}");
    }
    for role in ["admin", "owner"] {
        assert!(!db_line.contains(&format!("leaver-{role}")), "{db_line}");
        assert!(db_line.contains(&format!("joiner-{role}")), "{db_line}");
    }
    // Invites: the refused roles' are all still open; the owner revoked only the db one.
    let open_ids: Vec<&str> = invite_list
        .lines()
        .filter(|l| l.contains("open"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for (key, id) in &invites {
        let role = key.rsplit('-').next().unwrap();
        let revoked = role == "admin" || (role == "owner" && key.starts_with("db-"));
        assert_eq!(
            !open_ids.contains(&id.as_str()),
            revoked,
            "invite {key} ({id}): {invite_list}"
        );
    }
}

#[tokio::test]
async fn the_groups_view_shows_only_the_groups_one_manages() {
    let app = fleet().await;
    let groups_of = |cookie: String| {
        let app = &app;
        async move {
            let res = call(app, "admin_groups", &cookie, &[]).await;
            assert_eq!(res.status(), StatusCode::OK);
            let view: Value = res.json().await.unwrap();
            view["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    let hosts: Vec<&str> = g["hosts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|h| h.as_str().unwrap())
                        .collect();
                    format!("{}:{}", g["name"].as_str().unwrap(), hosts.join(","))
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(groups_of(cookie_of(&app, "owner").await).await, ["db:db-1"]);
    for member in ["parent", "sibling", "nobody"] {
        assert!(
            groups_of(cookie_of(&app, member).await).await.is_empty(),
            "{member} manages nothing"
        );
    }
    let all = groups_of(app.admin_cookie().await).await;
    assert_eq!(
        all,
        ["root:test-host", "ops:", "db:db-1", "staging:stage-1"],
        "tree order"
    );
}

#[tokio::test]
async fn an_owner_removing_a_member_narrows_their_socket_within_a_second() {
    let app = fleet().await;
    let owner = cookie_of(&app, "owner").await;
    // Added by the owner on the page: the server applies it before it answers (from the
    // command line it would take up to a poll of the access version).
    let res = call(
        &app,
        "add_member",
        &owner,
        &[("group", "db"), ("username", "sibling")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let sibling = cookie_of(&app, "sibling").await;
    let mut ws = open(&app, Some(&sibling), None).await.unwrap();
    next_of_type(&mut ws, "hello").await;
    ws.send(Message::text(r#"{"type":"subscribe","hosts":["db-1"]}"#))
        .await
        .unwrap();
    next_of_type(&mut ws, "snapshot").await;

    let started = Instant::now();
    let res = call(
        &app,
        "remove_member",
        &owner,
        &[("group", "db"), ("username", "sibling")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let hosts = next_of_type(&mut ws, "hosts").await;
    let took = started.elapsed();
    eprintln!("member removed by an owner: socket narrowed after {took:?}");
    assert!(took < Duration::from_secs(1), "narrowed after {took:?}");
    let names: Vec<&str> = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(names, ["stage-1"], "db-1 is gone, staging stays");
}

#[tokio::test]
async fn a_role_change_or_disabling_signs_the_user_out_everywhere_within_a_second() {
    let app = spawn_app().await;
    add_user(&app, "carol", PASSWORD);
    add_user(&app, "dave", PASSWORD);
    let admin = app.admin_cookie().await;
    for (user, endpoint, form) in [
        (
            "carol",
            "set_user_role",
            [("username", "carol"), ("role", "admin")],
        ),
        (
            "dave",
            "set_user_disabled",
            [("username", "dave"), ("disabled", "true")],
        ),
    ] {
        let cookie = cookie_of(&app, user).await;
        let mut ws = open(&app, Some(&cookie), None).await.unwrap();
        next_of_type(&mut ws, "hello").await;
        let started = Instant::now();
        let res = call(&app, endpoint, &admin, &form).await;
        assert_eq!(res.status(), StatusCode::OK, "{endpoint}");
        let (code, _) = closed_with(&mut ws, Duration::from_secs(2)).await;
        let took = started.elapsed();
        eprintln!("{endpoint}: socket closed after {took:?}");
        assert!(code.is_some(), "{endpoint}: the socket is closed");
        assert!(took < Duration::from_secs(1), "{endpoint}: after {took:?}");
        assert!(!app.is_signed_in(&cookie).await, "{endpoint}: signed out");
    }
    // A disabled account is refused like a wrong password; enabled again, it signs in.
    let refused = app.login("dave", PASSWORD).await;
    let wrong = app.login("dave", "not-the-password").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.text().await.unwrap(), wrong.text().await.unwrap());
    let res = call(
        &app,
        "set_user_disabled",
        &admin,
        &[("username", "dave"), ("disabled", "false")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.login("dave", PASSWORD).await.status(), StatusCode::OK);
    // Carol is an admin now: her next sign-in may list users.
    let carol = cookie_of(&app, "carol").await;
    assert_eq!(
        call(&app, "admin_users", &carol, &[]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_admin_cannot_lock_themself_out() {
    let app = spawn_app().await;
    let admin = app.admin_cookie().await;
    for (endpoint, form) in [
        (
            "set_user_disabled",
            vec![("username", ADMIN), ("disabled", "true")],
        ),
        (
            "set_user_role",
            vec![("username", ADMIN), ("role", "viewer")],
        ),
        ("remove_user", vec![("username", ADMIN)]),
    ] {
        let res = call(&app, endpoint, &admin, &form).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{endpoint}");
        assert!(res.text().await.unwrap().contains("your own account"));
    }
    assert!(app.is_signed_in(&admin).await);
}

#[tokio::test]
async fn audit_rows_name_who_acted_a_user_with_their_address_or_the_command_line() {
    let app = spawn_app().await;
    add_user(&app, "erin", PASSWORD);
    let admin = app.admin_cookie().await;
    let res = call(&app, "create_group", &admin, &[("name", "web")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = call(
        &app,
        "add_member",
        &admin,
        &[("group", "web"), ("username", "erin")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let db = Db::connect(&app.config.database_url).await.unwrap();
    let rows = db
        .audit_rows(
            &AuditFilter {
                event: Some("group".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    let added = rows
        .iter()
        .find(|r| r.event == "group.member_added")
        .unwrap();
    assert_eq!(added.actor.as_deref(), Some(ADMIN));
    assert_eq!(added.username.as_deref(), Some("erin"));
    assert_eq!(added.ip.as_deref(), Some("127.0.0.1"));
    let created = rows.iter().find(|r| r.event == "group.created").unwrap();
    assert_eq!(created.actor.as_deref(), Some(ADMIN));

    let cli_row = db
        .audit_rows(
            &AuditFilter {
                event: Some("user.created".into()),
                ..Default::default()
            },
            1,
        )
        .await
        .unwrap();
    assert_eq!(cli_row[0].actor.as_deref(), Some("(command line)"));
    assert_eq!(cli_row[0].username.as_deref(), Some("erin"));
    // The user filter finds rows by who did them, too.
    let by_admin = db
        .audit_rows(
            &AuditFilter {
                user: Some(ADMIN.into()),
                event: Some("group".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(by_admin.len(), 2);
}

#[tokio::test]
async fn an_invite_made_on_the_page_gives_a_link_and_its_qr_code() {
    let app = fleet().await;
    let owner = cookie_of(&app, "owner").await;
    let res = call(
        &app,
        "create_invite",
        &owner,
        &[("group", "db"), ("uses", "2"), ("expires_days", "3")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let outcome: Value = res.json().await.unwrap();
    let link = outcome["Invite"]["link"].as_str().unwrap();
    assert!(outcome["Invite"]["qr_svg"]
        .as_str()
        .unwrap()
        .starts_with("<?xml"));
    let path = &link[link.find("/invite/").unwrap()..];
    let page = app.get(path, None).await.text().await.unwrap();
    assert!(page.contains("db"), "the invite page names its group");
    for (uses, days) in [("0", "3"), ("2", "91"), ("x", "3")] {
        let res = call(
            &app,
            "create_invite",
            &owner,
            &[("group", "db"), ("uses", uses), ("expires_days", days)],
        )
        .await;
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "{uses} uses, {days} days"
        );
    }
}

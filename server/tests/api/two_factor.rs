//! Two-factor sign-in: enrolment with a first code, then sign-ins that make a session only
//! after the second step; codes accepted once, recovery codes once each, wrong codes
//! throttled like wrong passwords; the admins' policy; HTTP Basic refused to such accounts.

use crate::{
    cli::{add_user, audit_events},
    groups::{cookie_of, PASSWORD},
    helpers::*,
};
use lookout::auth::two_factor::{code_at, STEP_SECS};
use reqwest::{header, Response, StatusCode};
use serde_json::Value;

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `lookout_2fa=…` as a response set it, if it did.
pub fn challenge_cookie(res: &Response) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("lookout_2fa="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .filter(|c| c.len() > "lookout_2fa=".len())
}

/// Turns the second factor on for `user` (signed in with `cookie`); its secret and the
/// recovery codes.
pub async fn enrol(app: &TestApp, cookie: &str) -> (String, Vec<String>) {
    let res = call(app, "begin_two_factor", cookie, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let enrolment: Value = res.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_string();
    assert!(enrolment["qr_svg"].as_str().unwrap().contains("<svg"));
    let wrong = call(app, "confirm_two_factor", cookie, &[("code", "000000")]).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let code = code_at(&secret, now()).unwrap();
    let res = call(app, "confirm_two_factor", cookie, &[("code", &code)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let codes: Vec<String> = res.json().await.unwrap();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Signs in with the password: the challenge cookie, and no session.
pub async fn first_step(app: &TestApp, user: &str) -> String {
    let res = app.login(user, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        session_cookie(&res).is_none(),
        "no session after the password alone"
    );
    challenge_cookie(&res).expect("the second step's cookie")
}

pub async fn second_step(app: &TestApp, challenge: &str, code: &str) -> Response {
    call(app, "verify_code", challenge, &[("code", code)]).await
}

#[tokio::test]
async fn with_a_second_factor_the_session_exists_only_after_the_code() {
    let app = spawn_app().await;
    add_user(&app, "tess", PASSWORD);
    let cookie = cookie_of(&app, "tess").await;
    let (secret, recovery) = enrol(&app, &cookie).await;
    let status: Value = call(&app, "two_factor_status", &cookie, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["enabled"], true);
    assert_eq!(status["recovery_codes_left"], 10);

    // The password alone: a challenge, no session. A wrong code: refused, no session.
    let challenge = first_step(&app, "tess").await;
    let wrong = second_step(&app, &challenge, "000000").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&wrong).is_none());
    // The enrolment's own code was used up: the next step's code signs in.
    let code = code_at(&secret, now() + STEP_SECS).unwrap();
    let res = second_step(&app, &challenge, &code).await;
    assert_eq!(res.status(), StatusCode::OK);
    let session = session_cookie(&res).expect("a session now");
    assert!(app.is_signed_in(&session).await);
    // The challenge is gone with its use.
    let again = second_step(&app, &challenge, &code).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(again.text().await.unwrap().contains("ChallengeExpired"));

    // The same code cannot sign in twice.
    let challenge = first_step(&app, "tess").await;
    let replay = second_step(&app, &challenge, &code).await;
    assert_eq!(
        replay.status(),
        StatusCode::UNAUTHORIZED,
        "a code works once"
    );

    // A recovery code works once, typed loosely.
    let typed = recovery[3].to_uppercase().replace('-', " ");
    let res = second_step(&app, &challenge, &typed).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(app.is_signed_in(&session_cookie(&res).unwrap()).await);
    let challenge = first_step(&app, "tess").await;
    let reused = second_step(&app, &challenge, &recovery[3]).await;
    assert_eq!(
        reused.status(),
        StatusCode::UNAUTHORIZED,
        "a recovery code works once"
    );

    let events = audit_events(&app).await;
    for event in [
        "two_factor.enabled",
        "login.second_factor_failure",
        "two_factor.recovery_code_used",
        "login.success",
    ] {
        assert!(events.iter().any(|e| e == event), "{event} in {events:?}");
    }
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_wrong_passwords() {
    let app = spawn_app().await;
    add_user(&app, "tess", PASSWORD);
    let cookie = cookie_of(&app, "tess").await;
    let (secret, _) = enrol(&app, &cookie).await;
    let challenge = first_step(&app, "tess").await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(second_step(&app, &challenge, "123456").await.status());
    }
    // The enrolment's wrong code counted too: five misses, then 429.
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let res = second_step(
        &app,
        &challenge,
        &code_at(&secret, now() + STEP_SECS).unwrap(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked out, even with the right code"
    );
    assert!(res.headers().contains_key(header::RETRY_AFTER));
    assert!(session_cookie(&res).is_none());
    assert!(audit_events(&app)
        .await
        .iter()
        .any(|e| e == "login.throttled"));
}

#[tokio::test]
async fn the_policy_makes_a_user_without_a_second_factor_set_one_up_before_the_session() {
    let app = spawn_app().await;
    add_user(&app, "uma", PASSWORD);
    let admin = app.admin_cookie().await;
    let res = call(
        &app,
        "set_two_factor_policy",
        &admin,
        &[("policy", "everyone")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    let challenge = first_step(&app, "uma").await;
    let prompt: Value = call(&app, "pending_sign_in", &challenge, &[])
        .await
        .json()
        .await
        .unwrap();
    let secret = prompt["Enrol"]["secret"].as_str().expect("asked to enrol");
    let res = second_step(&app, &challenge, &code_at(secret, now()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let codes: Vec<String> = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(codes.len(), 10);

    // Required: it cannot be turned off by its user; an admin can reset it.
    let uma = {
        let challenge = first_step(&app, "uma").await;
        let res = second_step(&app, &challenge, &codes[0]).await;
        session_cookie(&res).unwrap()
    };
    let res = call(&app, "disable_two_factor", &uma, &[("password", PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("required"));
    let res = call(&app, "reset_two_factor", &admin, &[("username", "uma")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let prompt: Value = call(&app, "pending_sign_in", &first_step(&app, "uma").await, &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(prompt["Enrol"].is_object(), "enrols again: {prompt}");
}

#[tokio::test]
async fn an_optional_second_factor_is_turned_off_with_the_password() {
    let app = spawn_app().await;
    add_user(&app, "vic", PASSWORD);
    let cookie = cookie_of(&app, "vic").await;
    enrol(&app, &cookie).await;
    let wrong = call(
        &app,
        "disable_two_factor",
        &cookie,
        &[("password", "not-it-at-all")],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let res = call(
        &app,
        "disable_two_factor",
        &cookie,
        &[("password", PASSWORD)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.login("vic", PASSWORD).await;
    assert!(challenge_cookie(&res).is_none());
    assert!(app.is_signed_in(&session_cookie(&res).unwrap()).await);
    assert!(audit_events(&app)
        .await
        .iter()
        .any(|e| e == "two_factor.disabled"));
}

#[tokio::test]
async fn http_basic_is_refused_to_an_account_with_a_second_factor() {
    let app = spawn_app().await;
    add_user(&app, "wes", PASSWORD);
    let basic = |user: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{PASSWORD}"))
        )
    };
    let get = |auth: String| {
        let app = &app;
        async move {
            client_from(None)
                .get(app.url("/api/v1/hosts"))
                .header(header::AUTHORIZATION, auth)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get(basic("wes")).await, StatusCode::OK);
    let cookie = cookie_of(&app, "wes").await;
    enrol(&app, &cookie).await;
    assert_eq!(get(basic("wes")).await, StatusCode::FORBIDDEN);
}

//! `/v1/preferences/{user}`: what a person asked not to receive (the categories they opted out
//! of, or `all`), read with `read`, set with `admin` — the same opt-outs a person changes by
//! writing `stop …` / `start …` to the bot.

use crate::access::Scope;
use crate::dto::{Preferences, PreferencesUpdate, ProblemDetails};
use crate::problem::{store_err, Problem};
use crate::state::App;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use herald_core::category::OptOut;
use herald_core::ids::{AadObjectId, UserRef};
use herald_engine::recipients;
use serde_json::Value;

/// The most opt-outs one PUT may set: more categories than any organisation names.
pub const MAX_OPT_OUTS: usize = 256;

pub fn routes() -> Router<App> {
    Router::new().route("/v1/preferences/{user}", get(read).put(replace))
}

fn invalid(pointer: &str, detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-preferences",
        detail,
    )
    .at(pointer)
}

/// The person `{user}` names (a UPN, an AAD object id or a Teams user id, as in `to.users`),
/// from the installation store, else the directory.
async fn person(app: &App, user: &str) -> Result<(AadObjectId, String), Problem> {
    let who = UserRef::parse(user).map_err(|e| invalid("/user", e.to_string()))?;
    let found = recipients::resolve(&app.engine, user.trim(), &who)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "the directory did not answer");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "directory-unavailable",
                "Microsoft Graph did not answer while looking the user up; try again",
            )
        })?;
    let aad = found.and_then(|r| r.aad_object_id).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-user",
            format!(
                "no user `{user}` in the directory (or, for a Teams id, among the installations)"
            ),
        )
    })?;
    Ok((aad, user.trim().to_owned()))
}

async fn view(app: &App, aad: &AadObjectId, user: String) -> Result<Response, Problem> {
    let opted_out = app
        .engine
        .store
        .opt_outs(&app.engine.tenant, aad)
        .await
        .map_err(store_err)?;
    Ok(Json(Preferences {
        user,
        aad_object_id: aad.as_str().to_owned(),
        opted_out: opted_out.iter().map(|o| o.as_str().to_owned()).collect(),
    })
    .into_response())
}

/// A person's opt-outs.
#[utoipa::path(
    get,
    path = "/v1/preferences/{user}",
    params(("user" = String, Path, description = "A UPN, AAD object id or Teams user id, as in `to.users`")),
    responses(
        (status = 200, body = Preferences),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn read(
    State(app): State<App>,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Response {
    let result: Result<Response, Problem> = async {
        app.authorize(&headers, Scope::Read)?;
        let (aad, user) = person(&app, &user).await?;
        view(&app, &aad, user).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Sets a person's opt-outs to exactly these (an admin acting for them, or an import from
/// another tool); the person's own `stop …` / `start …` change the same list.
#[utoipa::path(
    put,
    path = "/v1/preferences/{user}",
    params(("user" = String, Path, description = "A UPN, AAD object id or Teams user id, as in `to.users`")),
    request_body = PreferencesUpdate,
    responses(
        (status = 200, body = Preferences),
        (status = 400, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn replace(
    State(app): State<App>,
    headers: HeaderMap,
    Path(user): Path<String>,
    body: Body,
) -> Response {
    let result: Result<Response, Problem> = async {
        app.authorize(&headers, Scope::Admin)?;
        let bytes = app.read_body(body).await?;
        let opted_out = parse(&bytes)?;
        let (aad, user) = person(&app, &user).await?;
        let now = app.engine.clock.now_ms();
        app.engine
            .store
            .replace_opt_outs(&app.engine.tenant, &aad, &opted_out, now)
            .await
            .map_err(store_err)?;
        view(&app, &aad, user).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `{"optedOut": ["payroll", …]}`, each a category or `all`, at most [`MAX_OPT_OUTS`].
fn parse(bytes: &[u8]) -> Result<Vec<OptOut>, Problem> {
    let body: Value = serde_json::from_slice(bytes).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-json",
            format!("the body is not JSON: {e}"),
        )
    })?;
    let Some(obj) = body.as_object() else {
        return Err(invalid(
            "",
            "the body is an object: {\"optedOut\": [categories]}",
        ));
    };
    if let Some(k) = obj.keys().find(|k| k.as_str() != "optedOut") {
        return Err(invalid(
            &format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            format!("unknown field `{k}`: preferences hold `optedOut`"),
        ));
    }
    let Some(list) = obj.get("optedOut").and_then(Value::as_array) else {
        return Err(invalid(
            "/optedOut",
            "`optedOut` is a list of categories (or `all`); [] opts back in to everything",
        ));
    };
    if list.len() > MAX_OPT_OUTS {
        return Err(invalid(
            "/optedOut",
            format!("{} opt-outs; at most {MAX_OPT_OUTS}", list.len()),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let at = format!("/optedOut/{i}");
        let s = v
            .as_str()
            .ok_or_else(|| invalid(&at, "a category is a string"))?;
        let o = OptOut::parse(s).map_err(|e| invalid(&at, e.to_string()))?;
        if !out.contains(&o) {
            out.push(o);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preferences_body_names_categories_or_all_and_nothing_else() {
        assert_eq!(
            parse(br#"{"optedOut": ["Payroll", "all", "payroll"]}"#).unwrap(),
            vec![OptOut::All, OptOut::parse("payroll").unwrap(),]
        );
        assert_eq!(parse(br#"{"optedOut": []}"#).unwrap(), vec![]);
        let pointer = |b: &[u8]| parse(b).unwrap_err().pointer;
        assert_eq!(
            pointer(br#"{"optedOut": ["ok", "no way"]}"#).as_deref(),
            Some("/optedOut/1")
        );
        assert_eq!(
            pointer(br#"{"optedOut": [3]}"#).as_deref(),
            Some("/optedOut/0")
        );
        assert_eq!(
            pointer(br#"{"optedOut": "payroll"}"#).as_deref(),
            Some("/optedOut")
        );
        assert_eq!(
            pointer(br#"{"optedOut": [], "timezone": "x"}"#).as_deref(),
            Some("/timezone")
        );
        assert_eq!(parse(b"[").unwrap_err().status, StatusCode::BAD_REQUEST);
        let many = format!(r#"{{"optedOut": [{}]}}"#, vec!["\"a\""; 257].join(","));
        assert!(parse(many.as_bytes())
            .unwrap_err()
            .detail
            .contains("at most 256"));
    }
}

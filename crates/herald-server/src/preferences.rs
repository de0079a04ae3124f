//! `/v1/preferences/{user}`: what a person asked not to receive (the categories they opted out
//! of, or `all`) and the time zone they chose (for `recipientLocalTime`), read with `read`, set
//! with `admin` — the same opt-outs a person changes by writing `stop …` / `start …` to the bot.

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
    let time_zone = app
        .engine
        .store
        .preferred_time_zone(&app.engine.tenant, aad)
        .await
        .map_err(store_err)?;
    Ok(Json(Preferences {
        user,
        aad_object_id: aad.as_str().to_owned(),
        opted_out: opted_out.iter().map(|o| o.as_str().to_owned()).collect(),
        time_zone,
    })
    .into_response())
}

/// A person's opt-outs.
#[utoipa::path(
    get,
    path = "/v1/preferences/{user}",
    operation_id = "getPreferences",
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
    operation_id = "setPreferences",
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
        let update = parse_update(&bytes)?;
        let (aad, user) = person(&app, &user).await?;
        let now = app.engine.clock.now_ms();
        let store = &app.engine.store;
        if let Some(opted_out) = &update.opted_out {
            store
                .replace_opt_outs(&app.engine.tenant, &aad, opted_out, now)
                .await
                .map_err(store_err)?;
        }
        if let Some(zone) = &update.time_zone {
            store
                .set_preferred_time_zone(&app.engine.tenant, &aad, zone.as_deref(), now)
                .await
                .map_err(store_err)?;
        }
        view(&app, &aad, user).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// What a PUT changes: the opt-outs (replaced), the time zone (set, or forgotten with `null`);
/// a field left out is left as it is.
#[derive(Debug, PartialEq)]
struct Update {
    opted_out: Option<Vec<OptOut>>,
    time_zone: Option<Option<String>>,
}

/// `{"optedOut": ["payroll", …], "timeZone": "Europe/Berlin"}`: each a category or `all`, at
/// most [`MAX_OPT_OUTS`]; the zone an IANA name (or `null`).
fn parse_update(bytes: &[u8]) -> Result<Update, Problem> {
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
            "the body is an object: {\"optedOut\": [categories], \"timeZone\": \"Europe/Berlin\"}",
        ));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "optedOut" | "timeZone"))
    {
        return Err(invalid(
            &format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            format!("unknown field `{k}`: preferences hold `optedOut` and `timeZone`"),
        ));
    }
    if obj.is_empty() {
        return Err(invalid(
            "",
            "nothing to change: give `optedOut`, `timeZone` or both",
        ));
    }
    let time_zone = match obj.get("timeZone") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(z)) => {
            let z = z.trim();
            herald_engine::local_time::zone(z).map_err(|e| invalid("/timeZone", e))?;
            Some(Some(z.to_owned()))
        }
        Some(_) => {
            return Err(invalid(
                "/timeZone",
                "a time zone is an IANA name, like Europe/Berlin, or null",
            ))
        }
    };
    let opted_out = match obj.get("optedOut") {
        None => None,
        Some(v) => Some(opt_outs(v)?),
    };
    Ok(Update {
        opted_out,
        time_zone,
    })
}

fn opt_outs(v: &Value) -> Result<Vec<OptOut>, Problem> {
    let Some(list) = v.as_array() else {
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

    fn parse(b: &[u8]) -> Result<Vec<OptOut>, Problem> {
        parse_update(b).map(|u| u.opted_out.unwrap_or_default())
    }

    #[test]
    fn a_time_zone_is_an_iana_name_or_null_and_absent_fields_stay() {
        let u = parse_update(br#"{"timeZone": "Asia/Tokyo"}"#).unwrap();
        assert_eq!(
            u,
            Update {
                opted_out: None,
                time_zone: Some(Some("Asia/Tokyo".into()))
            }
        );
        let u = parse_update(br#"{"timeZone": null, "optedOut": []}"#).unwrap();
        assert_eq!(
            u,
            Update {
                opted_out: Some(vec![]),
                time_zone: Some(None)
            }
        );
        for bad in [&br#"{"timeZone": "Mars/Base"}"#[..], br#"{"timeZone": 5}"#] {
            assert_eq!(
                parse_update(bad).unwrap_err().pointer.as_deref(),
                Some("/timeZone")
            );
        }
        assert!(parse_update(b"{}").is_err(), "nothing to change");
    }

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

//! `DELETE /v1/users/{user}` (admin): erase a person for a data-protection request — their
//! conversation reference, opt-outs, sign-in, answers and their name on every delivery row and
//! stored request (see `herald_engine::erasure`).

use crate::access::Scope;
use crate::dto::{ErasureReport, ProblemDetails};
use crate::problem::{store_err, Problem};
use crate::state::App;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::delete;
use axum::{Json, Router};
use herald_core::ids::UserRef;
use herald_engine::erasure::{self, EraseError};

pub fn routes() -> Router<App> {
    Router::new().route("/v1/users/{user}", delete(erase))
}

/// Erases a person: deleted where Herald only kept them (reference, opt-outs, sign-in, answers),
/// anonymised where a report needs the row (delivery rows keep their outcome, as `erased`),
/// rows not sent to them yet canceled, and their name removed from stored requests. Someone
/// the directory no longer knows is erased by the name given. Erasing again finds nothing.
#[utoipa::path(
    delete,
    path = "/v1/users/{user}",
    operation_id = "eraseUser",
    params(("user" = String, Path, description = "A UPN, AAD object id or Teams user id, as in `to.users`")),
    responses(
        (status = 200, body = ErasureReport),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn erase(
    State(app): State<App>,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Response {
    let result: Result<Response, Problem> = async {
        app.authorize(&headers, Scope::Admin)?;
        let who = UserRef::parse(&user).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-user",
                e.to_string(),
            )
            .at("/user")
        })?;
        let erased = erasure::erase(&app.engine, &user, &who)
            .await
            .map_err(|e| match e {
                EraseError::DirectoryDown(why) => {
                    tracing::warn!(error = %why, "the directory did not answer");
                    Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "directory-unavailable",
                        "Microsoft Graph did not answer while looking the user up; try again",
                    )
                }
                EraseError::Store(e) => store_err(e),
            })?;
        Ok(Json(ErasureReport {
            user: user.trim().to_owned(),
            erased: erased.into(),
        })
        .into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

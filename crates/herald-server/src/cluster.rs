//! `GET /v1/cluster` (admin): the nodes sharing this database, whether each is alive, and its
//! share of each tenant's send budget.

use crate::access::Scope;
use crate::dto::{ClusterNode, ClusterView, ProblemDetails};
use crate::problem::Problem;
use crate::state::App;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use herald_core::clock::rfc3339_ms;

pub fn routes() -> Router<App> {
    Router::new().route("/v1/cluster", get(cluster))
}

/// The nodes on this database (those that beat in the last hour), this one first named.
#[utoipa::path(
    get,
    path = "/v1/cluster",
    operation_id = "getCluster",
    responses(
        (status = 200, body = ClusterView),
        (status = 403, description = "The token lacks `admin`", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cluster(State(app): State<App>, headers: HeaderMap) -> Response {
    let result: Result<Response, Problem> = async {
        app.authorize(&headers, Scope::Admin)?;
        let nodes = herald_engine::cluster::view(&app.engine)
            .await
            .map_err(crate::problem::store_err)?;
        Ok(Json(ClusterView {
            node_id: app.cfg.node_id.clone(),
            backend: app.store.backend().to_owned(),
            shared: app.store.shared(),
            nodes: nodes
                .into_iter()
                .map(|n| ClusterNode {
                    node_id: n.node_id,
                    started_at: rfc3339_ms(n.started_at),
                    heartbeat_at: rfc3339_ms(n.heartbeat_at),
                    alive: n.alive,
                    budget: serde_json::to_value(n.budget).unwrap_or_default(),
                })
                .collect(),
        })
        .into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

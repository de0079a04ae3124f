//! `GET /openapi.json`: the API described from the code — the request and response types the
//! handlers use, and the paths they are mounted on — as OpenAPI 3.1.

use crate::dto::*;
use crate::request_schema::{
    AudienceSchema, EventKindSchema, IfChatActiveSchema, IfNotInstalledSchema, MessageSchema,
    NotificationRequestSchema, OptionsSchema, PrioritySchema, RemindIfUnreadSchema,
    WaitForResponseSchema,
};
use crate::state::App;
use axum::extract::State;
use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald", description = "Proactive Microsoft Teams messages, from one user to a whole tenant."),
    paths(
        crate::notifications::create,
        crate::notifications::list,
        crate::notifications::status,
        crate::notifications::deliveries,
        crate::amendments::cancel,
        crate::amendments::recall,
        crate::amendments::edit,
        crate::responses::responses,
        crate::installations::list_installations,
        crate::installations::import,
        crate::cluster::cluster,
        crate::preferences::read,
        crate::preferences::replace,
        crate::users::erase,
    ),
    components(schemas(
        NotificationRequestSchema, AudienceSchema, MessageSchema, OptionsSchema,
        IfNotInstalledSchema, IfChatActiveSchema,
        NotificationSummary, AmendmentProgress, CountsDto, DeliveryRow, DeliveryPage, NotificationList, NotificationListItem,
        InstallationPage, ImportReport, SkippedEntry, ProblemDetails,
        WaitForResponseSchema, RemindIfUnreadSchema, EventKindSchema, ResponsePage, ResponseItem, ResponseCounts, PrioritySchema,
        ClusterView, ClusterNode, Preferences, PreferencesUpdate,
        ErasureReport, ErasedCounts,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []), ("apiKey" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
    }
}

pub async fn document(State(_): State<App>) -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

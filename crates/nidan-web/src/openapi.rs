//! The OpenAPI 3.1 document, generated from the handlers' annotations and the request and
//! response types, so it cannot drift from what the server does without the code changing too.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{account, apps, authz, codes, lifecycle, me, oidc, ops, two_step, webauthn};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "nidan", description = "Self-hosted two-step verification: password sign-in with a security key or passkey, an authenticator app, codes by email or SMS, or recovery codes, code checks for apps that keep their own sign-in, and forward-auth for reverse proxies in front of other apps."),
    paths(
        account::sign_up, account::login, account::login_verify, account::logout,
        me::me, me::sessions, me::end_session, me::devices, me::forget_device, me::forget_devices, me::activity,
        me::apps, me::remove_app,
        two_step::totp_setup, two_step::totp_confirm, two_step::totp_remove, two_step::recovery_left, two_step::recovery_recreate,
        two_step::two_step_set, two_step::two_step_remove,
        webauthn::register_start, webauthn::register_finish, webauthn::list, webauthn::remove, webauthn::sign_in_start,
        webauthn::passkey_start, webauthn::passkey_finish,
        apps::verify, apps::send_code, apps::user_view,
        codes::sms_setup, codes::sms_confirm, codes::sms_resend, codes::email_resend, codes::sms_remove, codes::email_setup, codes::email_confirm, codes::email_remove,
        codes::login_send_code, codes::me_send_code, codes::default_method, codes::set_locale,
        lifecycle::change_password, lifecycle::request_reset, lifecycle::confirm_reset, lifecycle::change_email,
        lifecycle::confirm_email, lifecycle::delete_account,
        authz::forward_auth, authz::auth_request,
        oidc::discovery, oidc::jwks, oidc::token, oidc::userinfo, oidc::revoke,
        ops::healthz, ops::readyz, ops::metrics,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerSchemes, &BodyErrors),
    tags((name = "accounts"), (name = "me"), (name = "two-step"), (name = "apps"), (name = "forward-auth"), (name = "openid-connect"), (name = "operations")),
)]
pub struct ApiDoc;

struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a session token from sign-in"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oidc_access_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an access token from /oauth2/token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API key from `nidan admin api-key create`"))
                    .build(),
            ),
        );
    }
}

/// Every operation that takes a JSON body can answer 413 (over 64 KiB) and 415 (not JSON); they
/// come from the shared body handling, so they are documented here once for all of them.
struct BodyErrors;

impl Modify for BodyErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                if op.request_body.is_some() {
                    op.responses
                        .responses
                        .entry("413".into())
                        .or_insert_with(|| error("`payload_too_large`: the body is over 64 KiB"));
                    op.responses
                        .responses
                        .entry("415".into())
                        .or_insert_with(|| {
                            error("`unsupported_media_type`: send `Content-Type: application/json`")
                        });
                }
            }
        }
    }
}

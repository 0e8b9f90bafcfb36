//! The pages' CSRF defence: a synchronizer token, checked by one extractor.
//!
//! A random 256-bit value lives in the `nidan_csrf` cookie (HttpOnly, SameSite=Lax, set on the
//! first page view, before sign-in too) and is repeated in a hidden `csrf` field of every form.
//! [`CsrfForm`] is the only way a page handler reads a posted form: it parses the urlencoded body,
//! takes out the `csrf` field and compares it in constant time with the cookie; a post whose
//! field is missing, empty or different gets the 403 page of [`Ctx::csrf_failed`], and the
//! handler never runs. The cookie is read with [`cookies::get`], so over https only its
//! `__Host-` name counts. After sign-in and sign-out the value is replaced, so a token seen
//! before sign-in is useless after it.

use axum::extract::{FromRef, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use nidan_service::session::AuthContext;

use super::{Ctx, cookies, secure, signed_in};
use crate::AppState;

/// A urlencoded form whose `csrf` field matched the CSRF cookie; `T` holds the other fields.
pub struct CsrfForm<T>(pub T);

/// The body as posted: the token beside the handler's own fields.
#[derive(Deserialize)]
struct Posted<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

impl<S, T> FromRequest<S> for CsrfForm<T>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let headers = req.headers().clone();
        let posted = match axum::Form::<Posted<T>>::from_request(req, state).await {
            Ok(axum::Form(posted)) => posted,
            Err(rejection) => return Err(rejection.into_response()),
        };
        let cookie = cookies::get(&headers, cookies::CSRF, secure(&app));
        if token_matches(cookie.as_deref(), &posted.csrf) {
            Ok(CsrfForm(posted.form))
        } else {
            Err(Ctx::new(&app, &headers).csrf_failed())
        }
    }
}

/// A signed-in post: its form (the CSRF check first, as for every form), then its page context
/// and the session's identity; without a valid session cookie, a redirect to the sign-in page.
pub(super) struct SignedInForm<T>(pub Ctx, pub AuthContext, pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for SignedInForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let CsrfForm(form) = CsrfForm::<T>::from_request(req, state).await?;
        let ctx = Ctx::new(state, &headers);
        match signed_in(state, &headers).await {
            Some((auth, _)) => Ok(SignedInForm(ctx, auth, form)),
            None => Err(ctx.redirect("/login")),
        }
    }
}

/// Whether the posted token equals the cookie's (constant time; empty never matches).
fn token_matches(cookie: Option<&str>, posted: &str) -> bool {
    match cookie {
        Some(cookie) if !cookie.is_empty() && !posted.is_empty() => {
            bool::from(cookie.as_bytes().ct_eq(posted.as_bytes()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_equal_non_empty_token_matches() {
        assert!(token_matches(Some("abc"), "abc"));
        assert!(!token_matches(Some("abc"), "abd"));
        assert!(!token_matches(Some("abc"), "ab"));
        assert!(!token_matches(Some(""), ""));
        assert!(!token_matches(None, "abc"));
        assert!(!token_matches(None, ""));
    }
}

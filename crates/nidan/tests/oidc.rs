//! nidan as an OpenID Connect provider, driven by a real relying-party library (the
//! `openidconnect` crate) against the real binary: discovery, authorize with PKCE, sign-in with
//! the password and TOTP through the pages, the code exchange, the ID token checked against the
//! JWKS (signature, issuer, audience, nonce), userinfo, refresh with rotation, reuse detection,
//! revocation; and what must be refused: a wrong redirect URI, a missing or wrong PKCE verifier,
//! a reused code, a code of another client, `prompt=none` without a session, forged tokens.

use std::process::Stdio;

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadata, RedirectUrl, RevocationUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::common::{Server, free_port, nidan_in, output_of};
use crate::journey::{
    accounts, hidden, location, log_file, page, post, sign_in_at, sign_in_with, tls_provider,
    wait_for_port,
};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const CALLBACK: &str = "http://127.0.0.1:9/callback";

#[derive(Clone, Debug, Deserialize, Serialize)]
struct Revocation {
    revocation_endpoint: String,
}
impl AdditionalProviderMetadata for Revocation {}

type Metadata = ProviderMetadata<
    Revocation,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

struct Provider {
    dir: tempfile::TempDir,
    _server: Server,
    base: String,
}

impl Provider {
    fn start() -> Provider {
        tls_provider();
        let dir = tempfile::tempdir().unwrap();
        accounts(dir.path(), ALICE, BOB);
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut cmd = nidan_in(dir.path());
        cmd.arg("serve")
            .env("NIDAN_SERVER_LISTEN", format!("127.0.0.1:{port}"))
            .env("NIDAN_SERVER_PUBLIC_URL", &base)
            .stdout(Stdio::null())
            .stderr(log_file(dir.path(), "nidan.log"));
        let mut server = Server(cmd.spawn().unwrap());
        wait_for_port(port, "nidan", &mut server.0, &dir.path().join("nidan.log"));
        Provider {
            dir,
            _server: server,
            base,
        }
    }

    /// `nidan admin oidc client add …`; answers the secret (empty for a public client).
    fn client(&self, name: &str, flags: &[&str]) -> String {
        let mut cmd = nidan_in(self.dir.path());
        cmd.args([
            "admin",
            "oidc",
            "client",
            "add",
            name,
            "--redirect-uri",
            CALLBACK,
        ])
        .args(flags);
        let out = output_of(cmd, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

/// The library's client as discovery configures it (with the revocation endpoint set).
type Rp = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// An authorization URL with PKCE for `scopes` (and `openid`); answers it with its state, nonce
/// and PKCE verifier.
fn auth_url(client: &Rp, scopes: &[&str]) -> (String, CsrfToken, Nonce, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client.authorize_url(
        AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in scopes {
        req = req.add_scope(Scope::new((*scope).into()));
    }
    let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
    (url.to_string(), state, nonce, verifier)
}

/// The code of an authorization's answer exchanged for tokens by the library.
async fn exchange(
    client: &Rp,
    http: &openidconnect::reqwest::Client,
    params: &[(String, String)],
    verifier: PkceCodeVerifier,
) -> openidconnect::core::CoreTokenResponse {
    client
        .exchange_code(AuthorizationCode::new(
            param(params, "code").expect("a code").into(),
        ))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .unwrap()
}

/// The library's HTTP client: no redirects followed, as its docs ask.
fn rp_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The browser: cookies kept, redirects followed by hand.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Follows the browser from the authorization URL, through sign-in when asked, to the
/// redirect back to the client; answers that URL's query parameters.
async fn authorize(
    p: &Provider,
    b: &reqwest::Client,
    url: &str,
    email: &str,
) -> Vec<(String, String)> {
    let mut at = url.to_owned();
    for _ in 0..8 {
        if at.starts_with(CALLBACK) {
            let parsed = url::Url::parse(&at).unwrap();
            return parsed
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        }
        let r = page(b, &at).await;
        assert!(
            r.status().is_redirection(),
            "{at}: {} {}",
            r.status(),
            r.text().await.unwrap()
        );
        let next = location(&r);
        let next = if next.starts_with('/') {
            format!("{}{next}", p.base)
        } else {
            next
        };
        at = if next.starts_with(&format!("{}/login?", p.base)) {
            let landed = sign_in_at(b, &p.base, &next, email).await;
            if landed.starts_with('/') {
                format!("{}{landed}", p.base)
            } else {
                landed
            }
        } else {
            next
        };
    }
    panic!("the browser never came back to the client (last at {at})");
}

/// The header of a JWT, decoded.
fn jwt_header(token: &str) -> serde_json::Value {
    let head = token.split('.').next().unwrap();
    serde_json::from_slice(
        &data_encoding::BASE64URL_NOPAD
            .decode(head.as_bytes())
            .unwrap(),
    )
    .unwrap()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn discovered(p: &Provider, id: &str, secret: Option<String>) -> Rp {
    let http = rp_http();
    let metadata = Metadata::discover_async(IssuerUrl::new(p.base.clone()).unwrap(), &http)
        .await
        .unwrap();
    let revocation = metadata.additional_metadata().revocation_endpoint.clone();
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(id.into()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap())
    .set_revocation_url(RevocationUrl::new(revocation).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relying_party_library_signs_in_with_nidan() {
    let p = Provider::start();
    let secret = p.client("grafana", &["--first-party"]);
    assert!(secret.starts_with("ndx_"), "{secret}");
    let client = discovered(&p, "grafana", Some(secret.clone())).await;
    let http = rp_http();

    let (url, state, nonce, verifier) = auth_url(&client, &["email", "groups", "offline_access"]);
    let b = browser();
    let params = authorize(&p, &b, &url, ALICE).await;
    assert_eq!(
        param(&params, "state"),
        Some(state.secret().as_str()),
        "state round-trips"
    );
    assert_eq!(param(&params, "iss"), Some(p.base.as_str()), "RFC 9207 iss");
    let code = param(&params, "code").expect("a code").to_owned();
    let tokens = exchange(&client, &http, &params, verifier).await;
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the ID token verifies against the JWKS");
    assert_eq!(claims.email().map(|e| e.as_str()), Some(ALICE));
    assert_eq!(claims.email_verified(), Some(true));
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(amr, ["pwd", "otp", "mfa"], "password and authenticator app");
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:nidan:acr:two-step")
    );
    assert!(claims.auth_time().is_some());
    let sub = claims.subject().as_str().to_owned();

    // The same code again: refused, and the tokens it gave are revoked.
    let again = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new("x".repeat(43)))
        .request_async(&http)
        .await;
    assert!(again.is_err(), "a used code is refused");
    let info = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async::<openidconnect::EmptyAdditionalClaims, _, openidconnect::core::CoreGenderClaim>(&http)
        .await;
    assert!(
        info.is_err(),
        "a replayed code revokes the access token it gave"
    );

    // A fresh sign-in-free round (the session is still there): userinfo, refresh, rotation.
    let (url, _, nonce, verifier) = auth_url(&client, &["email", "offline_access"]);
    let params = authorize(&p, &b, &url, ALICE).await;
    let tokens = exchange(&client, &http, &params, verifier).await;
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(claims.subject().as_str(), sub, "sub is stable");
    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.email().map(|e| e.as_str()), Some(ALICE));
    assert_eq!(info.subject().as_str(), sub);

    let first_refresh = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token")
        .clone();
    let rotated = client
        .exchange_refresh_token(&first_refresh)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let second_refresh = rotated
        .refresh_token()
        .expect("a new refresh token")
        .clone();
    assert_ne!(
        second_refresh.secret(),
        first_refresh.secret(),
        "refresh tokens rotate"
    );
    // The old one again: refused, and the whole family with it.
    assert!(
        client
            .exchange_refresh_token(&first_refresh)
            .unwrap()
            .request_async(&http)
            .await
            .is_err()
    );
    assert!(
        client
            .exchange_refresh_token(&second_refresh)
            .unwrap()
            .request_async(&http)
            .await
            .is_err(),
        "reuse of a refresh token revokes its family"
    );

    // Revocation: the access token of a new round stops working at once.
    let (url, _, _, verifier) = auth_url(&client, &[]);
    let params = authorize(&p, &b, &url, ALICE).await;
    let tokens = exchange(&client, &http, &params, verifier).await;
    // The library sends revocations over https only (RFC 7009 asks for TLS); this test's
    // server is plain http on loopback, so the request is made by hand as the library would.
    let revoked = reqwest::Client::new()
        .post(format!("{}/oauth2/revoke", p.base))
        .basic_auth("grafana", Some(&secret))
        .form(&[
            ("token", tokens.access_token().secret().as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let info = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async::<openidconnect::EmptyAdditionalClaims, _, openidconnect::core::CoreGenderClaim>(&http)
        .await;
    assert!(info.is_err(), "a revoked access token is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_must_be_refused_is_refused() {
    let p = Provider::start();
    let secret = p.client("grafana", &["--first-party"]);
    let other_secret = p.client("wiki", &["--first-party"]);
    p.client("spa", &["--public", "--first-party"]);
    let raw = reqwest::Client::new();
    let b = browser();
    let auth = |client: &str, extra: &str| {
        format!(
            "{}/oauth2/authorize?response_type=code&client_id={client}&redirect_uri={}&scope=openid&state=s1{extra}",
            p.base,
            percent_encoding::utf8_percent_encode(CALLBACK, percent_encoding::NON_ALPHANUMERIC)
        )
    };

    // Without a session, prompt=none answers login_required to the client, never a page.
    let r = page(&b, &auth("grafana", "&prompt=none")).await;
    let to = location(&r);
    assert!(
        to.starts_with(CALLBACK) && to.contains("error=login_required") && to.contains("state=s1"),
        "{to}"
    );

    // A redirect URI that is not registered exactly is never redirected to.
    for bad in [
        "http://127.0.0.1:9/callback/",
        "http://127.0.0.1:9/callbackx",
        "http://evil.example/callback",
    ] {
        let url = format!(
            "{}/oauth2/authorize?response_type=code&client_id=grafana&redirect_uri={}&scope=openid",
            p.base,
            percent_encoding::utf8_percent_encode(bad, percent_encoding::NON_ALPHANUMERIC)
        );
        let r = page(&b, &url).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.headers().get("location").is_none());
    }
    // A public client without PKCE: refused to the client.
    let r = page(&b, &auth("spa", "")).await;
    assert!(
        location(&r).contains("error=invalid_request"),
        "{}",
        location(&r)
    );

    // A code for grafana with a PKCE challenge.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge =
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    let code_for = |client: &'static str| {
        let b = &b;
        let p = &p;
        let url = auth(client, challenge);
        async move {
            let params = authorize(p, b, &url, ALICE).await;
            param(&params, "code").unwrap().to_owned()
        }
    };
    let token = |id: &str, secret: &str, fields: Vec<(&str, String)>| {
        let req = raw
            .post(format!("{}/oauth2/token", p.base))
            .basic_auth(id, Some(secret))
            .form(&fields);
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let exchange = |code: &str, verifier: Option<&str>| {
        let mut f = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", CALLBACK.to_owned()),
        ];
        if let Some(v) = verifier {
            f.push(("code_verifier", v.to_owned()));
        }
        f
    };

    let code = code_for("grafana").await;
    let (status, body) = token("grafana", &secret, exchange(&code, None)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "no verifier"
    );
    let code = code_for("grafana").await;
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj";
    let (status, body) = token("grafana", &secret, exchange(&code, Some(wrong))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "wrong verifier"
    );
    let code = code_for("grafana").await;
    let (status, body) = token("wiki", &other_secret, exchange(&code, Some(verifier))).await;
    assert_eq!(
        body["error"], "invalid_grant",
        "another client's code: {status} {body}"
    );
    let (status, body) = token("grafana", "ndx_wrong", exchange(&code, Some(verifier))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let mut f = exchange(&code, Some(verifier));
    f[2].1 = "http://127.0.0.1:9/other".into();
    let (_, body) = token("grafana", &secret, f).await;
    assert_eq!(body["error"], "invalid_grant", "another redirect_uri");
    // That code was used up by the refused attempts above; a fresh one works once.
    let code = code_for("grafana").await;
    let (status, body) = token("grafana", &secret, exchange(&code, Some(verifier))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id_token = body["id_token"].as_str().unwrap();
    let header: serde_json::Value = jwt_header(id_token);
    assert_eq!(header["alg"], "RS256", "never none or HS256: {header}");
    let (status, body) = token("grafana", &secret, exchange(&code, Some(verifier))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "reused code"
    );

    // Tokens nidan did not issue are refused: an unsigned JWT, or an HS256 one.
    for forged in [
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    ] {
        let r = raw
            .get(format!("{}/oauth2/userinfo", p.base))
            .bearer_auth(forged)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }

    // An app that is not first-party asks the user first; no is sent back as access_denied.
    p.client("thirdparty", &[]);
    let r = page(&b, &auth("thirdparty", challenge)).await;
    assert_eq!(r.status(), StatusCode::OK, "a consent page");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:9"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert!(
        html.contains("thirdparty") && html.contains("who you are"),
        "{html}"
    );
    let answer = |decision: &'static str| {
        let form = [
            ("csrf", hidden(&html, "csrf")),
            ("query", hidden(&html, "query")),
            ("decision", decision.to_owned()),
        ];
        let req = b.post(format!("{}/oauth2/authorize", p.base)).form(&form);
        async move { location(&req.send().await.unwrap()) }
    };
    let no = answer("deny").await;
    assert!(
        no.starts_with(CALLBACK) && no.contains("error=access_denied") && no.contains("state=s1"),
        "{no}"
    );
    let yes = answer("allow").await;
    assert!(
        yes.starts_with(CALLBACK) && yes.contains("code=ndo_"),
        "{yes}"
    );
    // Allowed once, it is not asked again; the security page lists it and can take it back,
    // so that it asks again next time.
    let r = page(&b, &auth("thirdparty", challenge)).await;
    let again = location(&r);
    assert!(
        again.starts_with(CALLBACK) && again.contains("code=ndo_"),
        "{again}"
    );
    let security = page(&b, &format!("{}/settings/security", p.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(security.contains("thirdparty"), "the app is listed");
    assert!(
        security.contains("App allowed to use your account"),
        "allowing it is in the history"
    );
    let removed = post(
        &b,
        &format!("{}/settings/security/apps/remove", p.base),
        &hidden(&security, "csrf"),
        &[("id", "thirdparty")],
    )
    .await;
    assert_eq!(removed, "/settings/security?done=app-removed");
    let r = page(&b, &auth("thirdparty", challenge)).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "asked again after its access was removed"
    );

    // prompt=login: a new sign-in even with a session, and then a code.
    let r = page(&b, &auth("grafana", &format!("{challenge}&prompt=login"))).await;
    let login = format!("{}{}", p.base, location(&r));
    assert!(login.contains("/login?renew=1&rd="), "{login}");
    let back = sign_in_with(&b, &p.base, &login, ALICE, 1).await;
    assert!(back.contains("login_after="), "{back}");
    let r = page(&b, &back).await;
    let to = location(&r);
    assert!(to.starts_with(CALLBACK) && to.contains("code=ndo_"), "{to}");
    // The sign-in time cannot be edited: a forged login_after is ignored, and prompt=login
    // asks again.
    let forged = back.replace("login_after=", "login_after=9999999999.x");
    let r = page(&b, &forged).await;
    assert!(location(&r).contains("/login?renew=1"), "{}", location(&r));

    // max_age=0 (once the sign-in is a second old) asks for a new sign-in; one that takes a
    // while is not asked for again. (An account without two-step: no code to use up.)
    let carol = browser();
    let r = page(&carol, &auth("grafana", challenge)).await;
    let login = format!("{}{}", p.base, location(&r));
    let back = sign_in_at(&carol, &p.base, &login, BOB).await;
    assert!(location(&page(&carol, &back).await).contains("code=ndo_"));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = page(&carol, &auth("grafana", &format!("{challenge}&max_age=0"))).await;
    let login = format!("{}{}", p.base, location(&r));
    assert!(login.contains("/login?renew=1&rd="), "{login}");
    let back = sign_in_at(&carol, &p.base, &login, BOB).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let to = location(&page(&carol, &back).await);
    assert!(to.starts_with(CALLBACK) && to.contains("code=ndo_"), "{to}");

    // An app that asks for two steps, for an account without two-step: turn it on first.
    let bob = browser();
    let two = format!("{challenge}&acr_values=urn%3Anidan%3Aacr%3Atwo-step");
    let r = page(&bob, &auth("grafana", &two)).await;
    let login = format!("{}{}", p.base, location(&r));
    let back = sign_in_at(&bob, &p.base, &login, BOB).await;
    let r = page(&bob, &back).await;
    assert!(
        location(&r).starts_with("/settings/security?done=two-step-needed&rd="),
        "{}",
        location(&r)
    );

    // An EdDSA client gets Ed25519-signed ID tokens, published in the JWKS.
    let ed_secret = p.client("ed", &["--first-party", "--eddsa"]);
    let code = code_for("ed").await;
    let (_, body) = token("ed", &ed_secret, exchange(&code, Some(verifier))).await;
    let header: serde_json::Value = jwt_header(body["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "EdDSA");
    let jwks: serde_json::Value = raw
        .get(format!("{}/oauth2/jwks", p.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"] && k["crv"] == "Ed25519")
    );
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("d").is_none()),
        "no private parts"
    );

    // Rotation by the operator: new keys sign within seconds; the old ones stay published.
    let kids = |v: &serde_json::Value| -> Vec<String> {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = kids(&jwks);
    let mut cmd = nidan_in(p.dir.path());
    cmd.args(["admin", "oidc", "rotate-keys"]);
    assert!(output_of(cmd, None).status.success());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let after = kids(
        &raw.get(format!("{}/oauth2/jwks", p.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    assert_eq!(after.len(), 4, "{after:?}");
    assert!(
        before.iter().all(|k| after.contains(k)),
        "the old keys stay published"
    );
    let code = code_for("grafana").await;
    let (_, body) = token("grafana", &secret, exchange(&code, Some(verifier))).await;
    let header: serde_json::Value = jwt_header(body["id_token"].as_str().unwrap());
    let kid = header["kid"].as_str().unwrap().to_owned();
    assert!(
        !before.contains(&kid) && after.contains(&kid),
        "signed with the new key"
    );
}

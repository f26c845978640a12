//! The Engine API's authentication: the shared JWT secret file, and the HTTP check every request
//! passes before its body is read.
//!
//! The secret file holds 32 bytes as hex (`0x` optional when read, written without it, as reth
//! does); when absent it is created with a fresh random secret, readable by its owner only (0600),
//! as geth and reth create theirs. A file that exists but does not hold 32 bytes of hex is an
//! error: a typo in `--authrpc.jwtsecret` must not silently mint a secret the consensus client
//! does not share.
//!
//! Tokens are checked by [`JwtSecret::validate`] (alloy-rpc-types-engine): HS256 only, an `iat`
//! claim required and within ±60 s of now, `exp` honoured when present, other claims ignored.
//! A refused request gets `401 Unauthorized` with a one-line plain-text reason, as geth answers.

use std::{
    fmt,
    future::Future,
    io::{self, Write},
    path::{Path, PathBuf},
    pin::Pin,
    task::{Context, Poll},
};

use alloy_rpc_types_engine::{JwtError, JwtSecret};
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use rand_core::{OsRng, RngCore};

/// Why the JWT secret file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The file exists but could not be read.
    #[error("reading the JWT secret {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// The file was absent and could not be created.
    #[error("creating the JWT secret {path}: {error}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// The file does not hold 32 bytes of hex.
    #[error("the JWT secret {path} is not 32 bytes of hex: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The secret in `path`, or a new random one written there (mode 0600) when the file is absent.
/// The flag says whether the file was created.
pub fn load_or_create_secret(path: &Path) -> Result<(JwtSecret, bool), SecretError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_secret(path, &text).map(|secret| (secret, false)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => match create_secret(path) {
            Ok(secret) => Ok((secret, true)),
            // Another process created it between our read and our exclusive create: use theirs.
            Err(SecretError::Create { error, .. })
                if error.kind() == io::ErrorKind::AlreadyExists =>
            {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| SecretError::Read { path: path.to_owned(), error })?;
                parse_secret(path, &text).map(|secret| (secret, false))
            }
            Err(error) => Err(error),
        },
        Err(error) => Err(SecretError::Read { path: path.to_owned(), error }),
    }
}

fn parse_secret(path: &Path, text: &str) -> Result<JwtSecret, SecretError> {
    JwtSecret::from_hex(text.trim())
        .map_err(|error| SecretError::Invalid { path: path.to_owned(), reason: error.to_string() })
}

fn create_secret(path: &Path) -> Result<JwtSecret, SecretError> {
    let create_error = |error| SecretError::Create { path: path.to_owned(), error };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(create_error)?;
    }
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let hex = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(create_error)?;
    file.write_all(hex.as_bytes()).and_then(|()| file.sync_all()).map_err(create_error)?;
    parse_secret(path, &hex)
}

/// Why a request was refused (the body of the 401 answer).
fn refusal(error: &JwtError) -> String {
    match error {
        JwtError::InvalidIssuanceTimestamp => "stale token: iat is not within 60 s of now".into(),
        JwtError::InvalidSignature => "invalid token signature".into(),
        JwtError::UnsupportedSignatureAlgorithm => {
            "unsupported token algorithm (HS256 only)".into()
        }
        other => format!("invalid token: {other}"),
    }
}

/// Checks the `Authorization: Bearer <jwt>` header of one request.
pub(crate) fn authorize(secret: &JwtSecret, headers: &http::HeaderMap) -> Result<(), String> {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty())
        .ok_or_else(|| "missing token".to_owned())?;
    secret.validate(token).map_err(|error| refusal(&error))
}

fn unauthorized(reason: String) -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from(format!("{reason}\n")));
    *response.status_mut() = http::StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A tower layer that refuses every request without a valid token before its body is read.
#[derive(Clone)]
pub(crate) struct JwtAuthLayer {
    secret: JwtSecret,
}

impl JwtAuthLayer {
    pub(crate) const fn new(secret: JwtSecret) -> Self {
        Self { secret }
    }
}

impl fmt::Debug for JwtAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtAuthLayer")
    }
}

impl<S> tower::Layer<S> for JwtAuthLayer {
    type Service = JwtAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtAuth { inner, secret: self.secret }
    }
}

/// The service [`JwtAuthLayer`] wraps around jsonrpsee's.
#[derive(Clone)]
pub(crate) struct JwtAuth<S> {
    inner: S,
    secret: JwtSecret,
}

impl<S> fmt::Debug for JwtAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtAuth")
    }
}

impl<S, B> tower::Service<HttpRequest<B>> for JwtAuth<S>
where
    S: tower::Service<HttpRequest<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        match authorize(&self.secret, request.headers()) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(reason) => {
                tracing::debug!("engine API request refused: {reason}");
                Box::pin(std::future::ready(Ok(unauthorized(reason))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_rpc_types_engine::Claims;

    use super::*;

    fn bearer(token: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn a_missing_file_is_created_private_and_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/jwt.hex");
        let (created, fresh) = load_or_create_secret(&path).unwrap();
        assert!(fresh);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 64, "32 bytes of hex: {text:?}");
        assert_eq!(hex::decode(&text).unwrap(), created.as_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, fresh) = load_or_create_secret(&path).unwrap();
        assert!(!fresh);
        assert_eq!(again, created);
    }

    #[test]
    fn an_existing_secret_is_read_with_or_without_0x_and_whitespace() {
        let dir = tempfile::tempdir().unwrap();
        let hex = "f79ae8046bc11c9927afe911db7143c51a806c4a537cc08e0d37140b0192f430";
        for text in [hex.to_owned(), format!("0x{hex}\n"), format!("  {hex}\r\n")] {
            let path = dir.path().join("jwt.hex");
            std::fs::write(&path, &text).unwrap();
            let (secret, fresh) = load_or_create_secret(&path).unwrap();
            assert!(!fresh);
            assert_eq!(hex::encode(secret.as_bytes()), hex);
        }
    }

    #[test]
    fn a_file_without_32_bytes_of_hex_is_an_error_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.hex");
        for text in
            ["", "0x1234", "zz9ae8046bc11c9927afe911db7143c51a806c4a537cc08e0d37140b0192f430"]
        {
            std::fs::write(&path, text).unwrap();
            let error = load_or_create_secret(&path).unwrap_err();
            assert!(matches!(error, SecretError::Invalid { .. }), "{text:?}: {error}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "the file is left alone");
        }
    }

    #[test]
    fn tokens_are_checked_for_secret_scheme_and_issued_at() {
        let secret = JwtSecret::random();
        let other = JwtSecret::random();
        let fresh = secret.encode(&Claims { iat: now(), exp: None }).unwrap();
        assert_eq!(authorize(&secret, &bearer(&fresh)), Ok(()));
        let mut lower = http::HeaderMap::new();
        lower.insert(http::header::AUTHORIZATION, format!("bearer {fresh}").parse().unwrap());
        assert_eq!(authorize(&secret, &lower), Ok(()), "the scheme is case-insensitive");

        let forged = other.encode(&Claims { iat: now(), exp: None }).unwrap();
        assert!(authorize(&secret, &bearer(&forged)).unwrap_err().contains("signature"));
        for iat in [now() - 61, now() + 61] {
            let stale = secret.encode(&Claims { iat, exp: None }).unwrap();
            assert!(authorize(&secret, &bearer(&stale)).unwrap_err().contains("stale"));
        }
        let edge = secret.encode(&Claims { iat: now() - 55, exp: None }).unwrap();
        assert_eq!(authorize(&secret, &bearer(&edge)), Ok(()));
        assert_eq!(authorize(&secret, &http::HeaderMap::new()).unwrap_err(), "missing token");
        assert_eq!(authorize(&secret, &bearer("")).unwrap_err(), "missing token");
        assert!(authorize(&secret, &bearer("not.a.jwt")).is_err());
        let mut basic = http::HeaderMap::new();
        basic.insert(http::header::AUTHORIZATION, format!("Basic {fresh}").parse().unwrap());
        assert_eq!(authorize(&secret, &basic).unwrap_err(), "missing token");
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        // {"alg":"none","typ":"JWT"} . {"iat":now} . (no signature)
        let secret = JwtSecret::random();
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let claims = format!("{{\"iat\":{}}}", now());
        let claims = base64_url(claims.as_bytes());
        let token = format!("{header}.{claims}.");
        assert!(authorize(&secret, &bearer(&token)).is_err());
    }

    /// Unpadded base64url, for the hand-made `alg: none` token above.
    fn base64_url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n =
                chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
}

//! S3 as the AWS CLI reaches it: the same credential chain (the AWS SDK's own: env vars, `AWS_PROFILE` with
//! `~/.aws/config` and `credentials` incl. SSO and assume-role, web identity, container and instance metadata),
//! the same region and endpoint settings, and errors that say which bucket, what went wrong and with which
//! profile/region/endpoint — never the credentials themselves.
//!
//! Resolved once per process, on first use of an `s3://` URL: a query over local files never reads AWS config.
//!
//! Settings, highest first:
//! - endpoint: `--endpoint-url`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`.
//!   A custom endpoint (MinIO, Ceph RGW, R2, a test server) is addressed path-style; `http://` only there.
//! - region: `--region`, `AWS_REGION` / `AWS_DEFAULT_REGION`, the profile's `region`, else `us-east-1`.
//!   (Instance metadata is not asked for a region: on a laptop that costs seconds of timeouts. On EC2, set
//!   `AWS_REGION`.)
//! - attempts: `AWS_MAX_ATTEMPTS` or the profile's `max_attempts` (as the AWS CLI), default 3; retried with
//!   exponential backoff: 5xx, 503 SlowDown, throttling, dropped connections, timeouts.
//! - `--no-sign-request`: anonymous requests, for public buckets.

use crate::config::S3Options;
use crate::error::{Error, Result, StoreFailure};
use aws_config::BehaviorVersion;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::ProvideRegion;
use aws_config::profile::region::ProfileFileRegionProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsCredential};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

/// What this process resolved: named in every S3 error so a user sees what was used.
#[derive(Clone)]
pub struct S3Context {
    pub region: String,
    /// The profile, as the SDK selects it (`AWS_PROFILE`, else `default`).
    pub profile: String,
    pub endpoint: Option<String>,
    pub max_attempts: u32,
    pub unsigned: bool,
    credentials: Option<SharedCredentialsProvider>,
}

impl fmt::Debug for S3Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Context")
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("endpoint", &self.endpoint)
            .field("max_attempts", &self.max_attempts)
            .field("unsigned", &self.unsigned)
            .finish_non_exhaustive()
    }
}

impl S3Context {
    /// `profile default, region us-east-1, endpoint http://…`: for error messages.
    pub fn describe(&self) -> String {
        let mut s = if self.unsigned {
            format!("unsigned requests, region {}", self.region)
        } else {
            format!("profile {}, region {}", self.profile, self.region)
        };
        if let Some(e) = &self.endpoint {
            s.push_str(&format!(", endpoint {e}"));
        }
        s
    }
}

static CONTEXT: OnceLock<std::result::Result<S3Context, String>> = OnceLock::new();

/// The process's S3 settings, resolved on first call (later calls get the same, whatever their options).
pub fn context(opts: &S3Options) -> Result<S3Context> {
    CONTEXT
        .get_or_init(|| {
            let opts = opts.clone();
            // The SDK's loaders are async and this is called from synchronous code (object store lookup), inside
            // or outside a runtime: resolve on a thread of its own. Only files and the environment are read
            // here; credentials are fetched later, on the caller's runtime, when the first request is signed.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        format!("cannot start a runtime to read the AWS configuration: {e}")
                    })?;
                Ok(rt.block_on(load(opts)))
            })
            .join()
            .map_err(|_| "reading the AWS configuration panicked".to_string())
            .and_then(|r| r)
        })
        .clone()
        .map_err(|message| Error::Storage {
            message,
            hint: None,
        })
}

async fn load(opts: S3Options) -> S3Context {
    let profile = opts
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "default".into());
    let mut region = opts.region.clone();
    if region.is_none() {
        region = EnvironmentVariableRegionProvider::new()
            .region()
            .await
            .map(|r| r.to_string());
    }
    if region.is_none() {
        region = ProfileFileRegionProvider::builder()
            .profile_name(&profile)
            .build()
            .region()
            .await
            .map(|r| r.to_string());
    }
    let region = region.unwrap_or_else(|| "us-east-1".into());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(aws_config::Region::new(region.clone()));
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    let sdk = loader.load().await;
    let endpoint = opts
        .endpoint_url
        .clone()
        .or_else(|| env_nonempty("AWS_ENDPOINT_URL_S3"))
        .or_else(|| sdk.endpoint_url().map(str::to_string))
        .map(|e| e.trim_end_matches('/').to_string());
    let max_attempts = sdk
        .retry_config()
        .map(|r| r.max_attempts())
        .unwrap_or(3)
        .max(1);
    S3Context {
        region,
        profile,
        endpoint,
        max_attempts,
        unsigned: opts.no_sign_request,
        credentials: if opts.no_sign_request {
            None
        } else {
            sdk.credentials_provider()
        },
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// An S3 store for one bucket, configured from the context.
pub fn build_store(bucket: &str, ctx: &S3Context) -> Result<AmazonS3> {
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&ctx.region)
        .with_retry(RetryConfig {
            max_retries: ctx.max_attempts.saturating_sub(1) as usize,
            retry_timeout: Duration::from_secs(120),
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(10),
                base: 2.0,
            },
        })
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(10))
                .with_timeout(Duration::from_secs(300))
                .with_allow_http(
                    ctx.endpoint
                        .as_deref()
                        .is_some_and(|e| e.starts_with("http://")),
                ),
        );
    if let Some(e) = &ctx.endpoint {
        b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
    }
    match &ctx.credentials {
        Some(p) => {
            b = b.with_credentials(Arc::new(SdkCredentials {
                provider: p.clone(),
                profile: ctx.profile.clone(),
                cached: tokio::sync::Mutex::new(None),
            }))
        }
        None => b = b.with_skip_signature(true),
    }
    b.build().map_err(|e| Error::InvalidLocation {
        location: format!("s3://{bucket}"),
        reason: e.to_string(),
    })
}

/// The SDK's credential chain as object_store's credential provider, with a cache: credentials are fetched
/// once and again only when they are about to expire.
struct SdkCredentials {
    provider: SharedCredentialsProvider,
    profile: String,
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl fmt::Debug for SdkCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkCredentials")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// Why no credentials could be had: a one-line message, never containing a secret.
#[derive(Debug)]
pub struct NoCredentials(pub String);

impl fmt::Display for NoCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoCredentials {}

#[async_trait::async_trait]
impl object_store::CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some((c, expiry)) = &*cached
            && expiry.is_none_or(|e| e > SystemTime::now() + Duration::from_secs(300))
        {
            return Ok(Arc::clone(c));
        }
        let creds = self.provider.provide_credentials().await.map_err(|e| {
            object_store::Error::Generic {
                store: "S3",
                source: Box::new(NoCredentials(format!(
                    "no AWS credentials (profile {}): {}",
                    self.profile,
                    one_line(&error_chain(&e))
                ))),
            }
        })?;
        let c = Arc::new(AwsCredential {
            key_id: creds.access_key_id().to_string(),
            secret_key: creds.secret_access_key().to_string(),
            token: creds.session_token().map(str::to_string),
        });
        *cached = Some((Arc::clone(&c), creds.expiry()));
        Ok(c)
    }
}

/// Describe an S3 error for `object` (`s3://bucket/key`) and wrap it back into an object_store error of the
/// same kind. Errors that callers act on (precondition, not modified, already exists) pass through as they are.
pub fn annotate(e: object_store::Error, object: &str) -> object_store::Error {
    use object_store::Error as E;
    if matches!(
        e,
        E::Precondition { .. }
            | E::NotModified { .. }
            | E::AlreadyExists { .. }
            | E::NotImplemented { .. }
            | E::NotSupported { .. }
    ) || StoreFailure::find(&e).is_some()
    {
        return e;
    }
    let failure = describe(&e, object);
    match e {
        E::NotFound { path, .. } => E::NotFound {
            path,
            source: Box::new(failure),
        },
        E::PermissionDenied { path, .. } => E::PermissionDenied {
            path,
            source: Box::new(failure),
        },
        E::Unauthenticated { path, .. } => E::Unauthenticated {
            path,
            source: Box::new(failure),
        },
        _ => E::Generic {
            store: "S3",
            source: Box::new(failure),
        },
    }
}

fn describe(e: &object_store::Error, object: &str) -> StoreFailure {
    let bucket = object
        .strip_prefix("s3://")
        .and_then(|r| r.split('/').next())
        .unwrap_or(object);
    let ctx = CONTEXT.get().and_then(|c| c.as_ref().ok());
    let used = ctx.map(S3Context::describe).unwrap_or_default();
    let region = ctx.map_or("?", |c| c.region.as_str());
    let chain = error_chain(e);
    let code = s3_code(&chain);
    let status = http_status(&chain);
    let retries = retries(&chain);
    let after = match retries {
        Some(n) => format!(" after {} attempts", n + 1),
        None => String::new(),
    };
    let fail = |message: String, hint: Option<String>| StoreFailure { message, hint };
    if let Some(nc) = find::<NoCredentials>(e) {
        return fail(
            format!("s3://{bucket}: {nc}"),
            Some(
                "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run `aws sso login` for an SSO \
                 profile, or pass --no-sign-request for a public bucket"
                    .into(),
            ),
        );
    }
    if code.as_deref() == Some("NoSuchBucket") {
        return fail(
            format!("s3://{bucket}: the bucket does not exist ({used})"),
            Some("check the bucket name, the region and the endpoint".into()),
        );
    }
    if matches!(e, object_store::Error::NotFound { .. }) || status == Some(404) {
        return fail(format!("{object}: no such object"), None);
    }
    if matches!(
        e,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
    ) || matches!(status, Some(401 | 403))
    {
        let why = code.map(|c| format!(" ({c})")).unwrap_or_default();
        return fail(
            format!("access denied to {object}{why} using {used}"),
            Some(
                "check the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and that they may read this bucket; \
                 pass --no-sign-request for a public bucket"
                    .into(),
            ),
        );
    }
    if matches!(status, Some(301 | 307)) || chain.contains("redirect") {
        return fail(
            format!("s3://{bucket} is not in region {}", region),
            Some("set --region or AWS_REGION to the bucket's region".into()),
        );
    }
    if let Some(s) = status
        && s >= 500
    {
        let what = code.map(|c| format!(" {c}")).unwrap_or_default();
        return fail(
            format!("{object}: S3 kept failing with HTTP {s}{what}{after} ({used})"),
            Some(
                "the store is overloaded or down: try again later, or raise AWS_MAX_ATTEMPTS"
                    .into(),
            ),
        );
    }
    if let Some(h) = find::<object_store::client::HttpError>(e) {
        use object_store::client::HttpErrorKind as K;
        let what = match h.kind() {
            K::Connect => "cannot connect",
            K::Timeout => "timed out",
            K::Interrupted => "the connection was interrupted",
            K::Decode => "the response could not be decoded",
            _ => "the request failed",
        };
        return fail(
            format!("{object}: {what}{after} ({used})"),
            Some("check the network and the endpoint (--endpoint-url, AWS_ENDPOINT_URL)".into()),
        );
    }
    fail(format!("{object}: {}", one_line(&chain)), None)
}

fn find<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// Every message in an error's chain, joined.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The S3 error code of an XML error body (`<Code>NoSuchBucket</Code>`).
fn s3_code(chain: &str) -> Option<String> {
    let start = chain.find("<Code>")? + "<Code>".len();
    let end = chain[start..].find("</Code>")? + start;
    Some(chain[start..end].to_string())
}

/// The HTTP status object_store reports (`status code: 503 Service Unavailable`).
fn http_status(chain: &str) -> Option<u16> {
    let at = chain.find("status code: ")? + "status code: ".len();
    chain[at..].get(..3)?.parse().ok()
}

/// How many retries object_store made (`after 2 retries`).
fn retries(chain: &str) -> Option<u32> {
    let at = chain.find("after ")? + "after ".len();
    let rest = &chain[at..];
    let n = rest.split_whitespace().next()?;
    rest.contains(" retries").then(|| n.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_s3_error_details() {
        let chain = "Error performing GET http://h/b/k in 1s, after 2 retries, max_retries: 2, retry_timeout: 120s  \
                     - Server returned non-2xx status code: 503 Service Unavailable: <Error><Code>SlowDown</Code></Error>";
        assert_eq!(s3_code(chain).as_deref(), Some("SlowDown"));
        assert_eq!(http_status(chain), Some(503));
        assert_eq!(retries(chain), Some(2));
        assert_eq!(retries("after the fact"), None);
        assert_eq!(http_status("no status"), None);
    }

    #[test]
    fn not_found_keeps_its_kind_and_names_the_object() {
        let e = object_store::Error::NotFound {
            path: "k".into(),
            source: "Server returned non-2xx status code: 404 Not Found: <Error><Code>NoSuchKey</Code></Error>"
                .into(),
        };
        let a = annotate(e, "s3://b/k");
        assert!(matches!(a, object_store::Error::NotFound { .. }));
        let f = StoreFailure::find(&a).unwrap();
        assert_eq!(f.message, "s3://b/k: no such object");
    }

    #[test]
    fn missing_bucket_is_named() {
        let e = object_store::Error::NotFound {
            path: "k".into(),
            source: "<Error><Code>NoSuchBucket</Code></Error>".into(),
        };
        let f = describe(&e, "s3://nope/k");
        assert!(
            f.message
                .starts_with("s3://nope: the bucket does not exist"),
            "{}",
            f.message
        );
    }
}

//! AWS Signature Version 4, checked as AWS checks it: the server rebuilds the canonical request from what it
//! received, signs it with the secret of the caller's access key, and compares in constant time. A request with
//! no signature, an unknown key, a signature that does not match, or a date more than 15 minutes from the
//! server's clock runs nothing and gets AWS's error code. Secrets are never printed: errors name the access key
//! id at most.

use super::ApiError;
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// How far a request's date may be from the server's clock.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// One caller the server accepts.
#[derive(Clone, Deserialize)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The work groups it may use (`*`: every one). Default: every one.
    #[serde(default = "every_workgroup")]
    pub workgroups: Vec<String>,
    /// The APIs it may call: `athena`, `glue`. Default: both.
    #[serde(default = "every_service")]
    pub services: Vec<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("workgroups", &self.workgroups)
            .field("services", &self.services)
            .finish()
    }
}

fn every_workgroup() -> Vec<String> {
    vec!["*".into()]
}

fn every_service() -> Vec<String> {
    vec!["athena".into(), "glue".into(), "firehose".into()]
}

impl Credential {
    /// Whether it may use work group `name`.
    pub fn may_use(&self, name: &str) -> bool {
        self.workgroups.iter().any(|w| w == "*" || w == name)
    }

    /// Whether it may call `service` (`athena`, `glue`).
    pub fn may_call(&self, service: &str) -> bool {
        self.services
            .iter()
            .any(|s| s.eq_ignore_ascii_case(service))
    }

    /// A caller of every work group and both APIs.
    pub fn new(access_key_id: String, secret_access_key: String) -> Self {
        Credential {
            access_key_id,
            secret_access_key,
            workgroups: every_workgroup(),
            services: every_service(),
        }
    }
}

/// The credentials file: `{"credentials": [{"access_key_id", "secret_access_key", "workgroups": [...],
/// "services": [...]}]}`.
#[derive(Debug, Deserialize)]
struct File {
    credentials: Vec<Credential>,
}

/// Read a credentials file; the error never quotes its content.
pub fn load(path: &Path) -> crate::error::Result<Vec<Credential>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::error::Error::Query(format!(
            "credentials file {} cannot be read: {e}",
            path.display()
        ))
    })?;
    let file: File = serde_json::from_str(&text).map_err(|e| {
        crate::error::Error::Query(format!(
            "credentials file {}: not {{\"credentials\": [{{\"access_key_id\", \"secret_access_key\", \
             \"workgroups\"}}]}} (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if file.credentials.is_empty() {
        return Err(crate::error::Error::Query(format!(
            "credentials file {}: no credentials in it",
            path.display()
        )));
    }
    for c in &file.credentials {
        if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
            return Err(crate::error::Error::Query(format!(
                "credentials file {}: an entry has an empty access key id or secret",
                path.display()
            )));
        }
    }
    Ok(file.credentials)
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct Authorization<'a> {
    access_key_id: &'a str,
    scope: &'a str,
    date: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let credential = credential?;
    let (access_key_id, scope) = credential.split_once('/')?;
    let date = scope.split('/').next()?;
    if scope.split('/').count() != 4 || !scope.ends_with("/aws4_request") {
        return None;
    }
    Some(Authorization {
        access_key_id,
        scope,
        date,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    })
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The canonical query string: its parameters sorted (they arrive URI-encoded already).
fn canonical_query(query: Option<&str>) -> String {
    let Some(q) = query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = q
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Who signed `request`, if its signature checks out against `credentials`.
pub fn verify<'c>(
    credentials: &'c [Credential],
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &http::HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<&'c Credential, ApiError> {
    let Some(value) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::auth(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let Some(auth) = parse_authorization(value) else {
        return Err(ApiError::auth(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters \
             (AWS4-HMAC-SHA256)",
        ));
    };
    let Some(credential) = credentials
        .iter()
        .find(|c| c.access_key_id == auth.access_key_id)
    else {
        return Err(ApiError::auth(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    };
    let header = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(",")
    };
    let amz_date = header("x-amz-date");
    let Ok(at) = NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ") else {
        return Err(ApiError::auth(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    let at = at.and_utc();
    if (now - at).num_seconds().abs() > MAX_SKEW_SECONDS {
        return Err(ApiError::auth(
            "InvalidSignatureException",
            &format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
                (now - chrono::Duration::seconds(MAX_SKEW_SECONDS)).format("%Y%m%dT%H%M%SZ"),
                now.format("%Y%m%dT%H%M%SZ")
            ),
        ));
    }
    if !amz_date.starts_with(auth.date) || !auth.signed_headers.contains(&"host") {
        return Err(ApiError::auth(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your \
             AWS Secret Access Key and signing method.",
        ));
    }
    let mut canonical_headers = BTreeMap::new();
    for name in &auth.signed_headers {
        canonical_headers.insert(name.to_ascii_lowercase(), header(name));
    }
    let payload_hash = match headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(h) if h != "UNSIGNED-PAYLOAD" => {
            let actual = hex::encode(Sha256::digest(body));
            if h != actual {
                return Err(ApiError::auth(
                    "InvalidSignatureException",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ));
            }
            actual
        }
        Some(h) => h.to_string(),
        None => hex::encode(Sha256::digest(body)),
    };
    let canonical = format!(
        "{method}\n{path}\n{}\n{}\n{}\n{payload_hash}",
        canonical_query(query),
        canonical_headers
            .iter()
            .map(|(k, v)| format!("{k}:{v}\n"))
            .collect::<String>(),
        auth.signed_headers.join(";"),
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        auth.scope,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = format!("AWS4{}", credential.secret_access_key).into_bytes();
    for part in auth.scope.split('/') {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&key, to_sign.as_bytes()));
    use subtle::ConstantTimeEq;
    if expected.as_bytes().ct_eq(auth.signature.as_bytes()).into() {
        Ok(credential)
    } else {
        Err(ApiError::auth(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS \
             Secret Access Key and signing method. Consult the service documentation for details.",
        ))
    }
}

/// The access key id a request names, signed or not (for a server without credentials: the history's user).
pub fn access_key_id(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    parse_authorization(value).map(|a| a.access_key_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's own example (the `get-vanilla` case of the SigV4 test suite).
    #[test]
    fn aws_test_suite_get_vanilla() {
        let creds = vec![Credential::new(
            "AKIDEXAMPLE".into(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        )];
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                .parse()
                .unwrap(),
        );
        let now = "2015-08-30T12:40:00Z".parse().unwrap();
        let ok = verify(&creds, "GET", "/", None, &headers, b"", now);
        assert_eq!(ok.unwrap().access_key_id, "AKIDEXAMPLE");
        // Another secret, another method, or too late: refused.
        let wrong = vec![Credential {
            secret_access_key: "not-it".into(),
            ..creds[0].clone()
        }];
        let e = verify(&wrong, "GET", "/", None, &headers, b"", now).unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
        let e = verify(&creds, "POST", "/", None, &headers, b"", now).unwrap_err();
        assert_eq!(e.code, "InvalidSignatureException");
        let late = "2015-08-30T13:00:00Z".parse().unwrap();
        let e = verify(&creds, "GET", "/", None, &headers, b"", late).unwrap_err();
        assert!(e.message.starts_with("Signature expired"), "{}", e.message);
        let e = verify(&creds[..0], "GET", "/", None, &headers, b"", now).unwrap_err();
        assert_eq!(e.code, "UnrecognizedClientException");
        headers.remove("authorization");
        let e = verify(&creds, "GET", "/", None, &headers, b"", now).unwrap_err();
        assert_eq!(e.code, "MissingAuthenticationTokenException");
    }
}

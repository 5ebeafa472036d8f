//! boto3 and PyAthena (its cursor and its pandas cursor) against a real `owl serve`, from a Python virtual
//! environment this test builds from PyPI (`tests/python/requirements.txt`, into Cargo's target folder, once).
//! The script checks every number against counts it makes from the data files itself.

mod common;
#[path = "common/s3.rs"]
mod s3;
#[path = "common/serve.rs"]
mod serve;

use common::Fixture;
use std::path::Path;
use std::process::Command;

#[test]
fn boto3_and_pyathena_query_owl_serve() {
    let python = serve::python_venv();
    let s3 = s3::S3Server::start(&["staging"]);
    let f = Fixture::new();
    // The pandas cursor reads its result file with the same keys it signs Athena's requests with.
    let env = serve::s3_env(&s3.endpoint, s3::ACCESS_KEY, s3::SECRET_KEY);
    let server = serve::Served::start_full(&f, &[], &[], &env, &[(s3::ACCESS_KEY, s3::SECRET_KEY)]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/athena_clients.py");
    let out = Command::new(python)
        .arg(script)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", f.path())
        .env("OWL_ENDPOINT", &server.endpoint)
        .env("OWL_KEY", s3::ACCESS_KEY)
        .env("OWL_SECRET", s3::SECRET_KEY)
        .env("OWL_DATA", f.path().join("sample-data"))
        .env("OWL_STAGING", "s3://staging/athena/")
        .env("AWS_ENDPOINT_URL_S3", &s3.endpoint)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver: {}",
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    assert!(
        stdout.contains("boto3: ok") && stdout.contains("pyathena: ok"),
        "{stdout}"
    );
}

//! boto3 and PyAthena (its cursor and its pandas cursor) against a real `owl serve`, from a Python virtual
//! environment this test builds from PyPI (`tests/python/requirements.txt`, into Cargo's target folder, once).
//! The script checks every number against counts it makes from the data files itself.

mod common;
#[path = "common/s3.rs"]
mod s3;
#[path = "common/serve.rs"]
mod serve;

use common::Fixture;

#[test]
fn boto3_and_pyathena_query_owl_serve() {
    let s3 = s3::S3Server::start(&["staging"]);
    let f = Fixture::new();
    // The pandas cursor reads its result file with the same keys it signs Athena's requests with.
    let env = serve::s3_env(&s3.endpoint, s3::ACCESS_KEY, s3::SECRET_KEY);
    let server = serve::Served::start_full(&f, &[], &[], &env, &[(s3::ACCESS_KEY, s3::SECRET_KEY)]);
    let data = f.path().join("sample-data").to_string_lossy().into_owned();
    let stdout = serve::run_python(
        &f,
        &server,
        "athena_clients.py",
        &[
            ("OWL_ENDPOINT", &server.endpoint),
            ("OWL_KEY", s3::ACCESS_KEY),
            ("OWL_SECRET", s3::SECRET_KEY),
            ("OWL_DATA", &data),
            ("OWL_STAGING", "s3://staging/athena/"),
            ("AWS_ENDPOINT_URL_S3", &s3.endpoint),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert!(
        stdout.contains("boto3: ok") && stdout.contains("pyathena: ok"),
        "{stdout}"
    );
}

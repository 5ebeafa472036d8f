//! Where bytes come from, and where they are counted.
//!
//! - `stores`: the process's object stores by URL (`file://`, `s3://bucket`), shared by every query, never
//!   metered themselves.
//! - `local_files`: the local filesystem as an `ObjectStore` (one `stat` a file when listing; small reads on
//!   the caller's thread).
//! - `s3`: S3 as the AWS CLI reaches it: credential chain, region and endpoint, errors described for people.
//! - `meter`: **where bytes are counted**: the `ObjectStore` decorator that charges each query's [`meter::Meter`]
//!   with the requests it made and the bytes it received, as they are consumed. A query's bill is its reading.

pub(crate) mod local_files;
pub mod meter;
pub(crate) mod s3;
pub(crate) mod stores;

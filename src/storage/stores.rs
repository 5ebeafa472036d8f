//! The object stores behind URLs, shared by every query of a process and never metered themselves:
//! `file://` is the local filesystem (`local_files`); `s3://bucket` stores are built on first use, with the AWS SDK's
//! credential chain and the process's region/endpoint settings (see `crate::storage::s3`).

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use url::Url;

use crate::config::S3Options;
use crate::storage::s3;

#[derive(Debug)]
pub struct StoreRegistry {
    local: Arc<dyn ObjectStore>,
    by_key: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
    s3: S3Options,
}

impl Default for StoreRegistry {
    fn default() -> Self {
        Self::new(S3Options::default())
    }
}

impl StoreRegistry {
    pub fn new(s3: S3Options) -> Self {
        StoreRegistry {
            local: Arc::new(super::local_files::LocalFiles::default()),
            by_key: Mutex::new(HashMap::new()),
            s3,
        }
    }
}

fn key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.by_key.lock().ok()?.insert(key(url), store)
    }

    fn deregister_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        self.by_key
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&key(url)))
            .ok_or_else(|| DataFusionError::Execution(format!("no object store for `{url}`")))
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        let k = key(url);
        if let Some(s) = self.by_key.lock().ok().and_then(|m| m.get(&k).cloned()) {
            return Ok(s);
        }
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => return Ok(Arc::clone(&self.local)),
            "s3" | "s3a" => {
                let bucket = url.host_str().unwrap_or_default();
                let ctx = s3::context(&self.s3)?;
                Arc::new(s3::build_store(bucket, &ctx)?)
            }
            other => {
                return Err(DataFusionError::Plan(format!(
                    "`{url}`: scheme `{other}` is not supported (use s3:// or a local path)"
                )));
            }
        };
        if let Ok(mut m) = self.by_key.lock() {
            m.insert(k, Arc::clone(&store));
        }
        Ok(store)
    }
}

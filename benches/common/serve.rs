//! The benches' `owl serve`: the release binary over a registry in `work`, SigV4/SCRAM credentials checked,
//! every listener on a free loopback port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const KEY: &str = "AKIDBENCH";
pub const SECRET: &str = "bench-secret";

/// A running server and its startup line; killed when dropped.
pub struct Server {
    child: Child,
    line: String,
}

impl Server {
    /// `owl serve --listen 127.0.0.1:0 --credentials ... <listeners>` in `work` (its `./catalog`).
    pub fn start(work: &Path, listeners: &[&str]) -> Server {
        let creds = work.join("credentials.json");
        std::fs::write(
            &creds,
            format!(
                r#"{{"credentials":[{{"access_key_id":"{KEY}","secret_access_key":"{SECRET}"}}]}}"#
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_owl"))
            .current_dir(work)
            .env_remove("OWL_CATALOG")
            .env_remove("OWL_DATABASE")
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(listeners)
            .arg("--credentials")
            .arg(&creds)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Server { child, line }
    }

    /// The address after `scheme` (`http://`, `postgres://`, `grpc://`) in the startup line.
    pub fn addr(&self, scheme: &str) -> String {
        self.line
            .split(scheme)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {scheme} in the startup line {}", self.line))
            .to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

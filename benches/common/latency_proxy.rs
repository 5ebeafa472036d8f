//! A latency-shaping TCP proxy for the S3 benchmarks: what a client sees of S3 over a network, in front of the
//! in-process S3 server on loopback.
//!
//! Each response's first byte waits `first_byte` after the request reached the proxy (S3's time to first byte),
//! then the body flows at most `bandwidth` bytes per second on that connection (S3's per-connection throughput).
//! HTTP/1.1 sends one request at a time on a connection, so "after a request, the next bytes back are its
//! response" holds without parsing HTTP; a client that wants more throughput opens more connections, as
//! against S3. Bounded: at most `MAX_CONNECTIONS` at once (the rest wait in the listen queue), 64 KiB buffers,
//! listening on 127.0.0.1 only.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore};

const MAX_CONNECTIONS: usize = 512;
const BUFFER: usize = 64 * 1024;
/// How far ahead of its pace a connection may send before it sleeps.
const PACE_AHEAD: Duration = Duration::from_millis(2);

/// The shape of the network: first-byte latency and per-connection bandwidth.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub first_byte: Duration,
    /// Bytes per second on one connection.
    pub bandwidth: u64,
}

impl Shape {
    /// From `OWL_S3_LATENCY_MS` (default 20) and `OWL_S3_MBPS` (default 100, MB/s per connection).
    pub fn from_env() -> Self {
        let num = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        Shape {
            first_byte: Duration::from_millis(num("OWL_S3_LATENCY_MS", 20)),
            bandwidth: num("OWL_S3_MBPS", 100).max(1) * 1_000_000,
        }
    }
}

/// What the proxy carried: connections opened, bytes each way.
#[derive(Debug, Default)]
pub struct Carried {
    pub connections: AtomicU64,
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
}

pub struct LatencyProxy {
    pub endpoint: String,
    pub carried: Arc<Carried>,
    _runtime: tokio::runtime::Runtime,
}

impl LatencyProxy {
    /// A proxy on 127.0.0.1 (a free port) to `upstream` (`host:port`), shaped by `shape`.
    pub fn start(upstream: &str, shape: Shape) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let carried = Arc::new(Carried::default());
        let upstream = upstream.to_string();
        let c = Arc::clone(&carried);
        runtime.spawn(async move {
            let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            loop {
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let upstream = upstream.clone();
                let c = Arc::clone(&c);
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Ok(server) = TcpStream::connect(&upstream).await {
                        c.connections.fetch_add(1, Ordering::Relaxed);
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        carry(client, server, shape, &c).await;
                    }
                });
            }
        });
        LatencyProxy {
            endpoint: format!("http://{addr}"),
            carried,
            _runtime: runtime,
        }
    }
}

/// When the request now waiting for its response reached the proxy (None: no request is waiting).
type Waiting = Arc<Mutex<Option<Instant>>>;

async fn carry(client: TcpStream, server: TcpStream, shape: Shape, carried: &Carried) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let waiting: Waiting = Arc::new(Mutex::new(None));
    let up = {
        let waiting = Arc::clone(&waiting);
        async move {
            let mut buf = vec![0u8; BUFFER];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                {
                    let mut w = waiting.lock().await;
                    if w.is_none() {
                        *w = Some(Instant::now());
                    }
                }
                carried.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
                if server_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = server_write.shutdown().await;
        }
    };
    let down = async move {
        let mut buf = vec![0u8; BUFFER];
        // Where the current response's throughput is measured from, and what it has sent.
        let mut since = Instant::now();
        let mut sent: u64 = 0;
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // The first bytes of a response: wait out the first-byte latency, then start its clock.
            let asked = waiting.lock().await.take();
            if let Some(at) = asked {
                tokio::time::sleep_until((at + shape.first_byte).into()).await;
                since = Instant::now();
                sent = 0;
            }
            // Send in slices, each when it is due at the bandwidth. The timer's grain is a millisecond (a 16 KiB
            // slice at 100 MB/s is due every 0.16 ms): sleep only when more than PACE_AHEAD ahead, so slices go
            // in small bursts and the rate over any few milliseconds is the bandwidth, not the timer's.
            for chunk in buf[..n].chunks(16 * 1024) {
                sent += chunk.len() as u64;
                let due = since + Duration::from_secs_f64(sent as f64 / shape.bandwidth as f64);
                if due > Instant::now() + PACE_AHEAD {
                    tokio::time::sleep_until(due.into()).await;
                }
                if client_write.write_all(chunk).await.is_err() {
                    return;
                }
                carried
                    .bytes_down
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// A tiny HTTP endpoint on 127.0.0.1 for the Python runner: `GET /<path>` answers `answer(path)` as JSON.
/// Returns its base URL.
pub fn serve_json(answer: impl Fn(&str) -> String + Send + 'static) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            // Skip the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = first.split_whitespace().nth(1).unwrap_or("/");
            let body = answer(path);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

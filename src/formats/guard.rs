//! Readers that panic on corrupt files, turned into errors that name the file.
//!
//! orc-rust and apache-avro index into buffers by the lengths a file declares; a corrupt file can make them
//! panic (`split_to out of bounds`, found by `tests/mutated_files.rs`). A panic on a query's task would end the
//! process, or surface as a join error naming nothing. [`Guarded`] polls a reader's future or stream inside
//! `catch_unwind`, and a panic becomes one error: `reading ORC file `x`: the file is corrupt (...)`. The parquet
//! crate's footer decoder is guarded too (a declared length past the file's start overflows a subtraction). While a
//! guarded reader runs, the panic hook stays quiet on that thread, so no backtrace is printed for a panic that
//! is handled; any other panic prints as before.

use datafusion::error::DataFusionError;
use futures::Stream;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

thread_local! {
    /// Guarded polls running on this thread (nested polls count).
    static QUIET: Cell<u32> = const { Cell::new(0) };
    /// What the last quiet panic said.
    static SAID: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Install, once, a panic hook that records (instead of printing) panics inside [`quietly`].
fn install() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) > 0 {
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let what = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                SAID.with(|s| *s.borrow_mut() = Some(format!("{what}{at}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Run `f`; a panic in it is returned as what it said.
pub(crate) fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install();
    QUIET.with(|q| q.set(q.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(q.get() - 1));
    result.map_err(|_| {
        SAID.with(|s| s.borrow_mut().take())
            .unwrap_or_else(|| "a panic".into())
    })
}

/// A reader's future or stream, polled inside [`quietly`]. After a panic it is not polled again.
pub(crate) struct Guarded<T> {
    inner: Option<Pin<Box<T>>>,
    /// The file, as errors name it: "ORC file `x`".
    what: String,
}

impl<T> Guarded<T> {
    pub(crate) fn new(inner: T, what: String) -> Self {
        Guarded {
            inner: Some(Box::pin(inner)),
            what,
        }
    }

    fn failed<E: FromPanic>(&mut self, said: String) -> E {
        // Dropping a reader that panicked may panic again: quietly too.
        if let Some(inner) = self.inner.take() {
            let _ = quietly(move || drop(inner));
        }
        E::from_panic(format!(
            "reading {}: the file is corrupt (its reader failed: {said})",
            self.what
        ))
    }
}

/// The error a guarded reader's panic becomes.
pub(crate) trait FromPanic {
    fn from_panic(message: String) -> Self;
}

impl FromPanic for DataFusionError {
    fn from_panic(message: String) -> Self {
        DataFusionError::Execution(message)
    }
}

impl FromPanic for parquet::errors::ParquetError {
    fn from_panic(message: String) -> Self {
        parquet::errors::ParquetError::General(message)
    }
}

impl<T, V, E: FromPanic> Future for Guarded<T>
where
    T: Future<Output = Result<V, E>>,
{
    type Output = Result<V, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Err(E::from_panic(format!(
                "reading {}: polled after it failed",
                this.what
            ))));
        };
        match quietly(|| inner.as_mut().poll(cx)) {
            Ok(p) => p,
            Err(said) => Poll::Ready(Err(this.failed(said))),
        }
    }
}

impl<T, V, E: FromPanic> Stream for Guarded<T>
where
    T: Stream<Item = Result<V, E>>,
{
    type Item = Result<V, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match quietly(|| inner.as_mut().poll_next(cx)) {
            Ok(p) => p,
            Err(said) => Poll::Ready(Some(Err(this.failed(said)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_panicking_reader_becomes_one_error_naming_the_file() {
        let reader = futures::stream::iter(0..3).map(|i| {
            if i == 1 {
                let v: Vec<u8> = vec![];
                let at = v.len() + 5;
                Ok::<u8, DataFusionError>(v[at])
            } else {
                Ok(i as u8)
            }
        });
        let mut guarded = Guarded::new(reader, "ORC file `x.orc`".into());
        assert_eq!(guarded.next().await.unwrap().unwrap(), 0);
        let e = guarded.next().await.unwrap().unwrap_err().to_string();
        assert!(
            e.contains("reading ORC file `x.orc`: the file is corrupt (its reader failed: index out of bounds"),
            "{e}"
        );
        assert!(guarded.next().await.is_none());
        // Outside a guarded poll, the hook prints as before (and a panic still panics).
        assert!(std::panic::catch_unwind(|| panic!("loud")).is_err());
    }
}

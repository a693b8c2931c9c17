//! Sending a file as a download without holding it in memory: it is read in chunks on
//! the blocking pool and streamed, with its length declared up front so the client
//! can tell a cut-off transfer from a complete one.

use std::fs::File;
use std::io::Read;

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;

const CHUNK: usize = 64 * 1024;
/// Chunks read ahead of the client: bounds memory per download.
const READ_AHEAD: usize = 4;

/// A `200` carrying `file` (`size` bytes) as an attachment named `name`.
pub fn attachment(file: File, size: u64, name: &str, content_type: &'static str) -> HttpResponse {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        loop {
            let mut buf = vec![0; CHUNK];
            let item = match file.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    Ok(Bytes::from(buf))
                }
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            // A client that went away closes the channel: stop reading.
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        // Whole copies of the data: no cache anywhere may keep one.
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .no_chunking(size);
    response.streaming(body)
}

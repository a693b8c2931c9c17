//! `GET /backups/{target}/{id}/database.dump` (and its `/api/v1` twin): a backup's
//! database, decrypted, as a file `pg_restore` reads. Owners only: it is the whole
//! database, every table of it.
//!
//! The dump can be far larger than memory, so a blocking thread decrypts it into a
//! small bounded channel that the response body drains: memory stays flat, and a
//! client that stops reading stops the decryption too.

use std::io::Read;

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::audit::{self, Actor, Event, Outcome};
use crate::backup::download::DatabaseDump;
use crate::backup::error::BackupError;
use crate::backup::runs::Backups;
use crate::backup_target::TargetError;
use crate::identity::cap;
use crate::web::AppState;
use crate::web::auth::client_info;
use crate::web::error::AppError;
use crate::web::guard::Authorized;

/// Chunks in flight between the decrypting thread and the socket.
const CHANNEL_CHUNKS: usize = 4;
const CHUNK: usize = 64 * 1024;

pub async fn database_dump(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Authorized<cap::DataExport>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (target, id) = path.into_inner();
    let (config, db, vault) = (state.config(), state.db.clone(), state.vault.clone());
    let event = Event::new(
        Actor::User(caller.user().id),
        "backup.downloaded",
        Outcome::Success,
    )
    .target(id.to_string())
    .client(&client_info(&req));
    let dump = tokio::task::spawn_blocking(move || {
        let backups = Backups {
            config: &config,
            db: &db,
            vault: &vault,
        };
        let dump = backups.database_dump(&target, id).inspect_err(|error| {
            // A missing backup is the client's mistake; anything else is the operator's.
            if !matches!(
                error,
                BackupError::NotFound(_)
                    | BackupError::UnknownTarget(..)
                    | BackupError::Target(TargetError::NotFound(_))
            ) {
                tracing::error!(%error, backup = %id, target, "backup download refused");
            }
        })?;
        // Recorded once the backup is known good and before a byte leaves: what is
        // audited is that this person was handed the data.
        let event = event.details(json!({ "target": target, "bytes": dump.length }));
        audit::record(&mut *db.get()?, &event)?;
        Ok::<_, BackupError>(dump)
    })
    .await
    .map_err(|_| AppError::Internal("download task stopped".into()))??;

    let length = dump.length;
    let mut response = HttpResponse::Ok();
    response
        .content_type("application/octet-stream")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!(
                "outpost-backup-{id}.dump"
            ))],
        })
        // The declared length is the manifest's: a stream cut short by a bad chunk is
        // then visibly incomplete to the client, not a smaller valid-looking file.
        .no_chunking(length);
    Ok(response.streaming(stream(dump)))
}

fn stream(
    dump: DatabaseDump,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + 'static {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || pump(dump.reader, &tx));
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    })
}

fn pump(mut reader: Box<dyn Read + Send>, tx: &mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let chunk = match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => Ok(Bytes::copy_from_slice(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!(error = %e, "backup download stopped: the stored dump did not decrypt");
                Err(e)
            }
        };
        let failed = chunk.is_err();
        // The client went away: nothing more to send it.
        if tx.blocking_send(chunk).is_err() || failed {
            return;
        }
    }
}

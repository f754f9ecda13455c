//! `GET /loki/api/v1/tail`: live tail over a WebSocket.
//!
//! The log traits have no change feed, so the tail polls: it first sends the newest `limit`
//! entries since `start` (default one hour ago), then once a second the entries that
//! appeared after the newest timestamp already sent, up to `now - delay_for`. Entries that
//! arrive late with a timestamp older than the ones already sent are not replayed. Frames
//! are Loki's `{"streams":[...],"dropped_entries":null}`, values in the
//! `categorize-labels` encoding when the upgrade request asked for it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use vigil_logql::syntax::{LogExpr, parse_log_expr};
use vigil_logql::{
    Direction, EvalError, EvalOptions, LogQueryParams, StorageLogSource, StreamResult,
    eval_log_query,
};
use vigil_model::TenantId;
use vigil_storage::LogQueryable;

use super::json::push_streams;
use super::params::{LokiParams, now_ns};
use super::{LokiError, blocking, checked_limit, log_store, wants_categorized};
use crate::ApiState;
use crate::params::Params;

/// Longest `delay_for` Loki accepts, in seconds.
const MAX_DELAY_SECONDS: i64 = 5;
/// How often the store is asked for new entries.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Most entries sent per poll; the rest follow on the next polls.
const ENTRIES_PER_POLL: usize = 1000;
/// How far back `start` defaults to.
const DEFAULT_LOOKBACK_NS: i64 = 3_600 * 1_000_000_000;

struct TailRequest {
    logs: Arc<dyn LogQueryable>,
    tenant: TenantId,
    expr: LogExpr,
    start_ns: i64,
    limit: usize,
    delay_ns: i64,
    categorize: bool,
}

/// Validates the request before the upgrade, so bad input gets a plain 400.
pub(super) async fn tail(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    params: Params,
) -> Result<Response, LokiError> {
    let (logs, tenant) = log_store(&state, &headers)?;
    let p = LokiParams(&params);
    let expr = parse_log_expr(&p.query()?).map_err(EvalError::from)?;
    let start_ns = p
        .time("start")?
        .unwrap_or_else(|| now_ns().saturating_sub(DEFAULT_LOOKBACK_NS));
    let limit = checked_limit(&p)?;
    let delay_seconds = match p.get("delay_for") {
        None => 0,
        Some(raw) => raw.parse::<i64>().map_err(|_| {
            LokiError::bad_request(format!(
                "could not parse 'delay_for' parameter: {raw:?} is not an integer"
            ))
        })?,
    };
    if !(0..=MAX_DELAY_SECONDS).contains(&delay_seconds) {
        return Err(LokiError::bad_request(format!(
            "delay_for can't be greater than {MAX_DELAY_SECONDS}"
        )));
    }
    let request = TailRequest {
        logs,
        tenant,
        expr,
        start_ns,
        limit,
        delay_ns: delay_seconds * 1_000_000_000,
        categorize: wants_categorized(&headers),
    };
    let upgrade = upgrade.map_err(|err| {
        LokiError::bad_request(format!("live tail needs a WebSocket upgrade: {err}"))
    })?;
    Ok(upgrade.on_upgrade(move |socket| run(socket, request)))
}

/// Entries of `[start_ns, end_ns)`, at most `limit`, in `direction`.
async fn read(
    request: &TailRequest,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
    direction: Direction,
) -> Result<Vec<StreamResult>, LokiError> {
    if end_ns <= start_ns {
        return Ok(Vec::new());
    }
    let logs = request.logs.clone();
    let tenant = request.tenant.clone();
    let expr = request.expr.clone();
    blocking(move || {
        let source = StorageLogSource::new(logs.as_ref(), tenant);
        Ok(eval_log_query(
            &source,
            &expr,
            &LogQueryParams {
                start_ns,
                end_ns,
                limit,
                direction,
            },
            &EvalOptions::default(),
        )?)
    })
    .await
}

fn frame(streams: Vec<StreamResult>, categorize: bool) -> String {
    let mut out = String::from("{\"streams\":");
    push_streams(&mut out, streams, Direction::Forward, categorize);
    out.push_str(",\"dropped_entries\":null}");
    out
}

fn newest(streams: &[StreamResult]) -> Option<i64> {
    streams
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.ts_ns))
        .max()
}

async fn send(socket: &mut WebSocket, streams: Vec<StreamResult>, categorize: bool) -> bool {
    let text = frame(streams, categorize);
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn run(mut socket: WebSocket, request: TailRequest) {
    // The first frame: the newest `limit` entries since `start`, oldest first.
    let until = now_ns().saturating_sub(request.delay_ns);
    let mut cursor = request.start_ns;
    match read(&request, cursor, until, request.limit, Direction::Backward).await {
        Ok(streams) => {
            cursor = until.max(cursor);
            if !streams.is_empty() && !send(&mut socket, streams, request.categorize).await {
                return;
            }
        }
        Err(err) => {
            close_with_error(socket, err).await;
            return;
        }
    }
    let mut ticker = tokio::time::interval(POLL_EVERY);
    ticker.tick().await;
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => continue,
            },
            _ = ticker.tick() => {}
        }
        let until = now_ns().saturating_sub(request.delay_ns);
        let streams = match read(
            &request,
            cursor,
            until,
            ENTRIES_PER_POLL,
            Direction::Forward,
        )
        .await
        {
            Ok(streams) => streams,
            Err(err) => {
                close_with_error(socket, err).await;
                return;
            }
        };
        let full = streams.iter().map(|s| s.entries.len()).sum::<usize>() >= ENTRIES_PER_POLL;
        cursor = match (newest(&streams), full) {
            // A full batch may stop mid-way: continue right after its newest entry.
            (Some(ts), true) => ts.saturating_add(1),
            _ => until.max(cursor),
        };
        if !streams.is_empty() && !send(&mut socket, streams, request.categorize).await {
            return;
        }
    }
}

async fn close_with_error(mut socket: WebSocket, err: LokiError) {
    tracing::warn!(error = %err.message, "live tail stopped");
    let _ = socket
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: 1011,
            reason: err.message.chars().take(120).collect::<String>().into(),
        })))
        .await;
}

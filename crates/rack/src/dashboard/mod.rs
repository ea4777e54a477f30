//! The rack's web dashboard (axum on a tokio runtime of its own thread): one page without a
//! front-end build (`page.html`), a JSON API over the rack and each BMC's control socket, and
//! each BMC's console over a websocket, both ways.
//!
//! Every request needs the access token printed at start (`?token=...`, or the
//! `X-Rack-Token` header); the server listens on 127.0.0.1 unless told otherwise.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /api/bmcs` | the status rows (as `status.json`) |
//! | `POST /api/bmcs/{name}/{reset,stop,start}` | a reset (control socket `system-reset`), a clean stop, a start |
//! | `GET /api/bmcs/{name}/sensors` | the temperature sensors (`sensor-list`) |
//! | `POST /api/bmcs/{name}/sensors` | `{"bus", "addr", "celsius"}`: `sensor-set` |
//! | `GET /api/bmcs/{name}/gpio` | the named GPIO lines of every controller (`gpio-list`) |
//! | `POST /api/bmcs/{name}/gpio` | `{"controller", "line", "value"}`: `gpio-set` |
//! | `GET /api/bmcs/{name}/console` | websocket: console output out, typed text in |

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::Rack;

/// The page, served as it is.
const PAGE: &str = include_str!("page.html");

/// How often a console websocket looks for new output.
const CONSOLE_POLL: Duration = Duration::from_millis(50);

/// The most GPIO controllers asked for their lines: the list ends at the first controller the
/// board does not have, so the dashboard needs no SoC's count.
const MAX_GPIO_CONTROLLERS: u64 = 16;

#[derive(Clone)]
struct App {
    rack: Arc<Rack>,
    token: Arc<String>,
}

/// A fresh access token: 16 bytes from the kernel's generator, in hex.
fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").map_err(|e| format!("/dev/urandom: {e}"))?,
        &mut bytes,
    )
    .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Serves the dashboard for `rack` at `addr` on a thread of its own; returns its address
/// with the token (`http://127.0.0.1:PORT/?token=...`).
pub fn start(rack: Arc<Rack>, addr: &str) -> Result<String, String> {
    let token = new_token()?;
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("dashboard: cannot listen on {addr}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("dashboard: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("dashboard: {e}"))?;
    let app = App {
        rack,
        token: Arc::new(token.clone()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rack-dashboard")
        .enable_all()
        .build()
        .map_err(|e| format!("dashboard: {e}"))?;
    std::thread::Builder::new()
        .name("rack-dashboard".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        log::error!("dashboard: {e}");
                        return;
                    }
                };
                if let Err(e) = axum::serve(listener, router(app)).await {
                    log::error!("dashboard: {e}");
                }
            })
        })
        .map_err(|e| format!("dashboard: no thread: {e}"))?;
    Ok(format!("http://{local}/?token={token}"))
}

fn router(app: App) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/bmcs", get(bmcs))
        .route("/api/bmcs/{name}/sensors", get(sensors).post(set_sensor))
        .route("/api/bmcs/{name}/gpio", get(gpio).post(set_gpio))
        .route("/api/bmcs/{name}/console", get(console))
        .route("/api/bmcs/{name}/{action}", post(action))
        .layer(middleware::from_fn_with_state(app.clone(), check_token))
        .with_state(app)
}

/// Refuses a request without the token (query `token` or header `X-Rack-Token`).
async fn check_token(
    State(app): State<App>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
    next: Next,
) -> Response {
    let given = query.get("token").cloned().or_else(|| {
        request
            .headers()
            .get("x-rack-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    if given.as_deref() == Some(app.token.as_str()) {
        next.run(request).await
    } else {
        (
            StatusCode::FORBIDDEN,
            "ast-emu rack: this page needs the access token the rack printed at start (?token=...)\n",
        )
            .into_response()
    }
}

/// An error for the page: its message, as JSON.
fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// Runs a blocking rack or control-socket call off the runtime's threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("dashboard: {e}"))?
}

/// A control-socket command on BMC `name`.
async fn command(app: &App, name: &str, command: &'static str, args: Value) -> Response {
    let rack = app.rack.clone();
    let name = name.to_string();
    match blocking(move || rack.control(&name)?.execute(command, args)).await {
        Ok(v) => Json(v).into_response(),
        Err(e) if e.starts_with("no BMC") => failure(StatusCode::NOT_FOUND, e),
        Err(e) => failure(StatusCode::BAD_GATEWAY, e),
    }
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn bmcs(State(app): State<App>) -> Response {
    let rack = app.rack.clone();
    match blocking(move || Ok(rack.rows())).await {
        Ok(rows) => Json(json!({ "bmcs": rows })).into_response(),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn action(State(app): State<App>, Path((name, action)): Path<(String, String)>) -> Response {
    if action == "reset" {
        return command(&app, &name, "system-reset", json!({})).await;
    }
    let rack = app.rack.clone();
    let done = match action.as_str() {
        "stop" => blocking(move || rack.stop(&name)).await,
        "start" => blocking(move || rack.start(&name)).await,
        _ => return failure(StatusCode::NOT_FOUND, format!("no action {action:?}")),
    };
    match done {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) if e.starts_with("no BMC") => failure(StatusCode::NOT_FOUND, e),
        Err(e) => failure(StatusCode::CONFLICT, e),
    }
}

async fn sensors(State(app): State<App>, Path(name): Path<String>) -> Response {
    command(&app, &name, "sensor-list", json!({})).await
}

async fn set_sensor(
    State(app): State<App>,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let args = json!({"bus": body["bus"], "addr": body["addr"], "celsius": body["celsius"]});
    command(&app, &name, "sensor-set", args).await
}

async fn gpio(State(app): State<App>, Path(name): Path<String>) -> Response {
    let rack = app.rack.clone();
    let result = blocking(move || {
        let control = rack.control(&name)?;
        let mut named = Vec::new();
        for controller in 0..MAX_GPIO_CONTROLLERS {
            // A board with fewer controllers answers with an error: the list ends there.
            let Ok(lines) = control.execute("gpio-list", json!({"controller": controller})) else {
                break;
            };
            named.extend(
                lines
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|l| l["name"].is_string())
                    .cloned(),
            );
        }
        Ok(named)
    })
    .await;
    match result {
        Ok(lines) => Json(Value::Array(lines)).into_response(),
        Err(e) => failure(StatusCode::BAD_GATEWAY, e),
    }
}

async fn set_gpio(
    State(app): State<App>,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let args =
        json!({"controller": body["controller"], "line": body["line"], "value": body["value"]});
    command(&app, &name, "gpio-set", args).await
}

async fn console(
    State(app): State<App>,
    Path(name): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if app.rack.bmc(&name).is_none() {
        return failure(StatusCode::NOT_FOUND, format!("no BMC {name:?}"));
    }
    upgrade.on_upgrade(move |socket| console_session(app, name, socket))
}

/// Sends the console's kept output, then each new piece; what the page sends is typed on the
/// console (`console-send`).
async fn console_session(app: App, name: String, mut socket: WebSocket) {
    let mut seen = 0u64;
    let mut tick = tokio::time::interval(CONSOLE_POLL);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let (bytes, total) = match app.rack.bmc(&name) {
                    Some(b) => b.lock().unwrap_or_else(|e| e.into_inner()).console_since(seen),
                    None => return,
                };
                seen = total;
                if !bytes.is_empty() {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
            }
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                let reply = command(&app, &name, "console-send", json!({"data": text})).await;
                if !reply.status().is_success() {
                    let _ = socket
                        .send(Message::Text("\r\n[ast-emu rack: the console is not running]\r\n".into()))
                        .await;
                }
            }
        }
    }
}
